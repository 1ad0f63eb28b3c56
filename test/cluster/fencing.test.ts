/**
 * `scope: 'cluster'` fencing, end to end on a real 3-member etcd cluster: the serving daemon is
 * paused (SIGSTOP) past its lease, a daemon on another machine takes over, and the old one is
 * continued (SIGCONT). It never answers again: calls sent on an old connection while it was
 * paused, and after it woke, each get an error or no reply, never a result, while the new
 * daemon serves. Outcomes are counted; no timing is asserted.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { Connection } from '../../dist/src/client/connection.js';
import { clusterKey } from '../../dist/src/wire/auth.js';
import { FIXTURES, isAlive, MAX_FRAME, waitForExit } from '../support/daemon.js';
import { ETCD_MISSING, type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';
import { currentRecord, killDaemonsAtEnd, machines, SECRET, serviceOn } from './machines.js';
import { track, type Tracked, uniqueName } from './support.js';

const LEDGER = `${pathToFileURL(join(FIXTURES, 'ledger.mjs')).href}:Ledger`;
const SAMPLES = 5;

type Ledger = { add(id: string): Promise<number>; seen(): Promise<{ ids: string[]; duplicates: number }> };

describe.skipIf(ETCD_MISSING !== undefined)(`scope 'cluster': fencing${ETCD_MISSING ? ` (${ETCD_MISSING})` : ''}`, () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await startEtcdCluster();
  });
  afterAll(() => cluster?.stop());

  it('a daemon paused past its lease never answers again once continued, while the one that took over serves', { timeout: 120_000 }, async () => {
    const name = uniqueName('fenced');
    const [a, b] = machines(cluster.registry, 2);
    killDaemonsAtEnd([a!, b!], name);

    const onA = serviceOn<Ledger>(a!, name, LEDGER);
    const first = await onA.proxy();
    const oldPid = await first.add('warm');
    await first[Symbol.asyncDispose]();
    const record = await currentRecord(cluster.registry, name);
    expect(record?.pid).toBe(oldPid);
    // A plain connection (no supervisor to move it to the new daemon), with the key the secret gives.
    const old = await Connection.open(
      { transport: 'tcp', host: record!.host, port: record!.port },
      { token: clusterKey(Buffer.from(SECRET), name), maxFrameBytes: MAX_FRAME, timeoutMs: 5000 },
    );
    onTestFinished(() => old.close());
    expect(await old.call('add', ['old-answered'])).toBe(oldPid);

    process.kill(oldPid, 'SIGSTOP');
    onTestFinished(() => {
      if (isAlive(oldPid)) process.kill(oldPid, 'SIGCONT');
    });
    const samples: Tracked<unknown>[] = [];
    for (let i = 0; i < SAMPLES; i++) samples.push(track(old.call('add', [`paused-${i}`])));

    // Another machine starts a daemon once the paused one's lease has expired.
    const onB = serviceOn<Ledger>(b!, name, LEDGER);
    const second = await onB.proxy();
    const newPid = await second.add('new-0');
    expect(newPid).not.toBe(oldPid);
    expect((await currentRecord(cluster.registry, name))?.host).toBe(b!.host);

    process.kill(oldPid, 'SIGCONT');
    for (let i = 0; i < SAMPLES; i++) samples.push(track(old.call('add', [`woke-${i}`])));
    // The new daemon serves meanwhile.
    for (let i = 1; i <= SAMPLES; i++) expect(await second.add(`new-${i}`)).toBe(newPid);

    // The old daemon drains and exits; its connection closes and whatever was pending fails.
    await waitForExit(oldPid, 30_000);
    await vi.waitFor(() => expect(samples.filter((s) => s.state.status === 'pending')).toEqual([]), { timeout: 10_000, interval: 50 }).catch(() => {});
    const answered = samples.filter((s) => s.state.status === 'resolved');
    const failed = samples.filter((s) => s.state.status === 'rejected');
    const unanswered = samples.filter((s) => s.state.status === 'pending');
    expect(answered).toEqual([]);
    expect(failed.length + unanswered.length).toBe(2 * SAMPLES);

    // The new daemon ran only its own calls, once each.
    const ledger = await second.seen();
    expect(ledger.duplicates).toBe(0);
    expect(ledger.ids.sort()).toEqual(Array.from({ length: SAMPLES + 1 }, (_, i) => `new-${i}`).sort());
    // The old one said why it stopped.
    expect(readFileSync(join(a!.runtimeDir, name, 'daemon.log'), 'utf8')).toMatch(/lost its place in the cluster registry \((expired|revoked|superseded)/);
    await second[Symbol.asyncDispose]();
    await onB.shutdown();
  });
});
