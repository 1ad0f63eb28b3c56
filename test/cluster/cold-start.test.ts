/**
 * `scope: 'cluster'` end to end, on a real 3-member etcd cluster: 3 "machines" (own runtime
 * dirs, daemons on 127.0.0.1, .2 and .3) x 4 client processes cold-start one counter at once.
 * Exactly one daemon is started in the whole cluster, every client reaches it, and no
 * increment is lost or doubled; a machine with another secret is refused, clearly. A daemon
 * nobody uses idles out and unpublishes as it exits.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localSingleton } from '../../dist/src/index.js';
import { parseRegistryEndpoints } from '../../dist/src/registry/endpoints.js';
import { openEtcdRegistry } from '../../dist/src/registry/etcd.js';
import { COUNTER, runWorker } from '../support/clients.js';
import { FIXTURES, freshRoot, waitForExit } from '../support/daemon.js';
import { ETCD_MISSING, type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';
import { currentRecord, daemonPids, killDaemonsAtEnd, machines, publishedCount, serviceOn } from './machines.js';
import { uniqueName } from './support.js';

const PROCESSES_PER_MACHINE = 4;
const LEDGER = `${pathToFileURL(join(FIXTURES, 'ledger.mjs')).href}:Ledger`;

type Fenced = { token(): Promise<string | null> };
const INCREMENTS = 25;

describe.skipIf(ETCD_MISSING !== undefined)(`scope 'cluster': a cold start across machines${ETCD_MISSING ? ` (${ETCD_MISSING})` : ''}`, () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await startEtcdCluster();
  });
  afterAll(() => cluster?.stop());

  it('3 machines x 4 processes at once: one daemon, one record, every client on the same pid, the exact count', { timeout: 90_000 }, async () => {
    const name = uniqueName('cold');
    const all = machines(cluster.registry, 3);
    killDaemonsAtEnd(all, name);
    const startAt = Date.now() + 500;
    const results = await Promise.all(
      all.flatMap((machine) =>
        Array.from({ length: PROCESSES_PER_MACHINE }, () =>
          runWorker({ runtimeDir: machine.runtimeDir, name, options: machine.options, startAt, count: INCREMENTS }, 60_000),
        ),
      ),
    );
    expect(results.map((r) => r.error)).toEqual(results.map(() => undefined));
    const pids = new Set(results.map((r) => r.pid));
    expect(pids.size).toBe(1);
    // Every increment ran exactly once: the values seen are 1..N, each once.
    const seen = results.flatMap((r) => r.results as number[]).sort((a, b) => a - b);
    const total = all.length * PROCESSES_PER_MACHINE * INCREMENTS;
    expect(seen).toEqual(Array.from({ length: total }, (_, i) => i + 1));

    // One daemon was started in the whole cluster, and it is the one etcd records.
    expect(daemonPids(all, name)).toEqual([...pids]);
    expect(publishedCount(all, name)).toBe(1);
    expect((await currentRecord(cluster.registry, name))?.pid).toBe([...pids][0]);
    const counter = await serviceOn<{ get(): Promise<number> }>(all[2]!, name, COUNTER).proxy();
    expect(await counter.get()).toBe(total);
    await counter[Symbol.asyncDispose]();

    // A machine given another secret is refused with an error that says so, and starts nothing.
    const stranger = { ...all[2]!, options: { ...all[2]!.options, secret: 'another secret, not the cluster one' } };
    const refused = await serviceOn(stranger, name, COUNTER)
      .ensureStarted()
      .then(
        () => undefined,
        (error: unknown) => error as { code?: string; message?: string },
      );
    expect(refused?.code).toBe('ERR_LOOPBACK_SINGLETON');
    expect(refused?.message).toMatch(/could not prove it holds the key derived from the cluster secret/);
    expect(daemonPids(all, name)).toEqual([...pids]);

    // Stopped from any machine: its record goes.
    await serviceOn(all[1]!, name, COUNTER).shutdown();
    const after = await openEtcdRegistry({ endpoints: parseRegistryEndpoints(cluster.registry), name });
    try {
      expect((await after.discover()).status).toBe('absent');
    } finally {
      await after.close();
    }
  });

  it("hosted code reads its daemon's fencing token: the registry's, larger for the next daemon; none in a local daemon", { timeout: 60_000 }, async () => {
    const name = uniqueName('token');
    const [machine] = machines(cluster.registry, 1);
    killDaemonsAtEnd([machine!], name);
    const svc = serviceOn<Fenced>(machine!, name, LEDGER);
    const tokens: bigint[] = [];
    for (let daemon = 0; daemon < 2; daemon++) {
      const proxy = await svc.proxy();
      const token = await proxy.token();
      const registry = await openEtcdRegistry({ endpoints: parseRegistryEndpoints(cluster.registry), name });
      try {
        const read = await registry.discover();
        expect(read.status === 'valid' && String(read.fencingToken)).toBe(token);
      } finally {
        await registry.close();
      }
      tokens.push(BigInt(token!));
      await proxy[Symbol.asyncDispose]();
      await svc.shutdown();
    }
    expect(tokens[1]).toBeGreaterThan(tokens[0]!);

    const local = localSingleton<Fenced>(name, LEDGER, { runtimeDir: freshRoot() });
    const proxy = await local.proxy();
    expect(await proxy.token()).toBeNull();
    await proxy[Symbol.asyncDispose]();
    await local.shutdown();
  });

  it('a daemon nobody uses idles out, and its record goes with it', { timeout: 60_000 }, async () => {
    const name = uniqueName('idle');
    // The daemon idles out once its spawner's start budget has run out too: a budget that fits a
    // loaded machine's start (etcd3 and gRPC to load), not so long that the test waits for long.
    const [machine] = machines(cluster.registry, 1, { idleTtlMs: 200, startTimeoutMs: 10_000 });
    killDaemonsAtEnd([machine!], name);
    const svc = serviceOn(machine!, name, COUNTER);
    const { pid } = await svc.ping();
    const registry = await openEtcdRegistry({ endpoints: parseRegistryEndpoints(cluster.registry), name });
    try {
      const read = await registry.discover();
      expect(read.status === 'valid' && read.record.pid).toBe(pid);
      await waitForExit(pid, 40_000);
      // It unpublished as it exited: the record is gone without waiting for its lease.
      expect((await registry.discover()).status).toBe('absent');
    } finally {
      await registry.close();
    }
    expect(readFileSync(join(machine!.runtimeDir, name, 'daemon.log'), 'utf8')).toMatch(/exit 0 \(stopped\)/);
  });
});
