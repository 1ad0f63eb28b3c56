/**
 * What the client statechart and a daemon's publishing step count on from any `Registry`
 * (src/registry/registry.ts), run as one table against both: the runtime files
 * (src/registry/file.ts, always) and etcd (src/registry/etcd.ts, on a real 3-member cluster,
 * where etcd is installed). What differs by design (a lease and an order on etcd, a pid on the
 * files) is tested in each one's own file, not here.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { FileRegistry } from '../../src/registry/file.js';
import type { RecordRead, Registry } from '../../src/registry/registry.js';
import { runtimePaths } from '../../src/runtime/paths.js';
import type { DaemonMetadata } from '../../src/types.js';
import { ETCD_MISSING, type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';
import { openRegistry, record as clusterRecord, track, uniqueName } from './support.js';

/** Generous: a busy 2-core machine, and etcd's watch. */
const WAIT = { timeout: 20_000, interval: 20 };

/** Long enough for a waiter to have given up, had it been going to: it is the waiter's signal that ends its wait. */
const STILL_WAITING_MS = 500;

/** One registry kind under test: registries of one fresh name, and records to publish there. */
interface Kind<R extends { readonly instanceId: string }> {
  readonly label: string;
  /** Why the kind cannot run here, if it cannot. */
  readonly missing: string | undefined;
  before(): Promise<void>;
  after(): Promise<void>;
  /** `count` registries of one fresh name, closed when the test ends. */
  open(count: number): Promise<Registry<R>[]>;
  record(): R;
}

/** Whether `promise` rejects with its signal's timeout, i.e. was still waiting when it fired. */
async function stillWaiting(promise: Promise<unknown>): Promise<boolean> {
  try {
    await promise;
    return false;
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') return true;
    throw error;
  }
}

function contract<R extends { readonly instanceId: string }>(kind: Kind<R>): void {
  describe.skipIf(kind.missing !== undefined)(`the Registry contract on ${kind.label}${kind.missing ? ` (${kind.missing})` : ''}`, () => {
    beforeAll(() => kind.before());
    afterAll(() => kind.after());

    it('nothing published: discover reads absent', async () => {
      const [registry] = await kind.open(1);
      expect(await registry!.discover()).toEqual({ status: 'absent' });
    });

    it('a publication is what every registry of the name discovers and a watcher is told, until it is unpublished', async () => {
      const [daemon, client, observer] = await kind.open(3);
      const seen: RecordRead<R>[] = [];
      const watch = await observer!.watch((read) => seen.push(read));
      onTestFinished(() => watch.close());
      const record = kind.record();
      const publication = await daemon!.publish(record);
      expect(publication.record).toEqual(record);
      expect(publication.isHeld()).toBe(true);
      expect(await client!.discover()).toMatchObject({ status: 'valid', record });
      await vi.waitFor(() => expect(seen.at(-1)).toMatchObject({ status: 'valid', record }), WAIT);

      await publication.unpublish();
      await publication.unpublish(); // idempotent
      expect(publication.isHeld()).toBe(false);
      expect(await client!.discover()).toEqual({ status: 'absent' });
      await vi.waitFor(() => expect(seen.at(-1)).toEqual({ status: 'absent' }), WAIT);
      expect(seen.map((read) => read.status)).toEqual(['absent', 'valid', 'absent']);
    });

    it('the start right has one holder at a time: a second acquirer waits until its signal ends the wait, and gets it once released', async () => {
      const [first, second] = await kind.open(2);
      const held = await first!.acquireStartRight(undefined, AbortSignal.timeout(WAIT.timeout));
      expect(held).toBeDefined();
      expect(held!.lost).toBeUndefined();
      expect(await stillWaiting(second!.acquireStartRight(undefined, AbortSignal.timeout(STILL_WAITING_MS)))).toBe(true);
      await held!.release();
      await held!.release(); // idempotent
      const next = await second!.acquireStartRight(undefined, AbortSignal.timeout(WAIT.timeout));
      expect(next).toBeDefined();
      await next!.release();
    });

    it('a waiter for the start right keeps waiting while the stale record is current, and gives up when another is published', async () => {
      const [holder, waiter, staleDaemon, newDaemon] = await kind.open(4);
      const held = await holder!.acquireStartRight(undefined, AbortSignal.timeout(WAIT.timeout));
      const stale = await staleDaemon!.publish(kind.record());
      expect(await stillWaiting(waiter!.acquireStartRight(stale.record.instanceId, AbortSignal.timeout(STILL_WAITING_MS)))).toBe(true);

      const waiting = track(waiter!.acquireStartRight(stale.record.instanceId, AbortSignal.timeout(WAIT.timeout)));
      await stale.unpublish();
      const fresh = await newDaemon!.publish(kind.record());
      await vi.waitFor(() => expect(waiting.state).toEqual({ status: 'resolved', value: undefined }), WAIT);
      await fresh.unpublish();
      await held!.release();
    });

    it('close() unpublishes what the registry holds and stops its watches; a second close() does nothing', async () => {
      const [daemon, client] = await kind.open(2);
      const told: string[] = [];
      await daemon!.watch((read) => told.push(read.status));
      const publication = await daemon!.publish(kind.record());
      await daemon!.close();
      await daemon!.close();
      expect(publication.isHeld()).toBe(false);
      await vi.waitFor(async () => expect(await client!.discover()).toEqual({ status: 'absent' }), WAIT);
      // Another daemon publishes: the closed registry's watch is not told.
      const before = [...told];
      const next = await client!.publish(kind.record());
      await new Promise((resolve) => setTimeout(resolve, STILL_WAITING_MS));
      expect(told).toEqual(before);
      await next.unpublish();
    });
  });
}

let filesRoot = '';
contract<DaemonMetadata>({
  label: 'the runtime files',
  missing: undefined,
  async before() {
    filesRoot = mkdtempSync(join(tmpdir(), 'lbs-contract-'));
  },
  async after() {
    rmSync(filesRoot, { recursive: true, force: true });
  },
  async open(count) {
    const paths = runtimePaths(filesRoot, uniqueName('files'));
    mkdirSync(paths.dir, { mode: 0o700 });
    const registries = Array.from({ length: count }, () => new FileRegistry(paths));
    onTestFinished(() => Promise.all(registries.map((registry) => registry.close())).then(() => {}));
    return registries;
  },
  record: () => ({
    pid: process.pid,
    instanceId: randomUUID(),
    transport: 'tcp',
    host: '127.0.0.1',
    port: 45678,
    protocolVersion: 1,
    packageVersion: '0.1.0',
    factoryId: 'f'.repeat(16),
    startedAt: Date.now(),
  }),
});

let cluster: EtcdCluster | undefined;
contract({
  label: 'etcd',
  missing: ETCD_MISSING,
  async before() {
    cluster = await startEtcdCluster();
  },
  async after() {
    await cluster?.stop();
  },
  async open(count) {
    const name = uniqueName('contract');
    return Promise.all(Array.from({ length: count }, () => openRegistry(cluster!.registry, name)));
  },
  record: () => clusterRecord(),
});
