/**
 * `scope: 'cluster'` failover, end to end on a real 3-member etcd cluster: the "machine" that
 * hosts the daemon dies (its daemon and its clients SIGKILLed). Once the daemon's lease has
 * expired, a client on another machine starts a new daemon there; the supervised proxies of the
 * other machines go on. No call is lost without an error, and none runs twice: every call a
 * surviving client made is either answered or failed (`ERR_DAEMON_LOST`, never replayed), and
 * the new daemon ran exactly the calls its clients saw answered by it, each once.
 */
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ClusterRecord } from '../../dist/src/registry/record.js';
import { FIXTURES, isAlive } from '../support/daemon.js';
import { ETCD_MISSING, type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';
import { type ClientTally, currentRecord, daemonPids, killDaemonsAtEnd, machines, serviceOn, startClient } from './machines.js';
import { uniqueName } from './support.js';

const LEDGER = `${pathToFileURL(join(FIXTURES, 'ledger.mjs')).href}:Ledger`;
const CLIENTS_PER_MACHINE = 2;
/** Calls each surviving client must see answered by the new daemon before the tally. */
const AFTER_FAILOVER = 10;
const WAIT = { timeout: 60_000, interval: 50 };

describe.skipIf(ETCD_MISSING !== undefined)(`scope 'cluster': failover${ETCD_MISSING ? ` (${ETCD_MISSING})` : ''}`, () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await startEtcdCluster();
  });
  afterAll(() => cluster?.stop());

  it('the hosting machine dies: a daemon on another machine takes over, supervised proxies go on, no call lost without an error or run twice', {
    timeout: 120_000,
  }, async () => {
    const name = uniqueName('failover');
    const all = machines(cluster.registry, 3);
    killDaemonsAtEnd(all, name);
    const clients = all.flatMap((machine) => Array.from({ length: CLIENTS_PER_MACHINE }, () => startClient(machine, name, LEDGER)));
    await Promise.all(clients.map((c) => c.ready));

    const first = await currentRecord(cluster.registry, name);
    expect(first).toBeDefined();
    const hosting = all.find((m) => m.host === first!.host)!;
    expect(hosting).toBeDefined();
    // The machine dies: its daemon and its clients.
    process.kill(first!.pid, 'SIGKILL');
    for (const c of clients.filter((c) => c.machine === hosting)) c.kill();
    const survivors = clients.filter((c) => c.machine !== hosting);

    // A new daemon, on another machine, once the old one's lease has expired.
    let second: ClusterRecord | undefined;
    await vi.waitFor(async () => {
      second = await currentRecord(cluster.registry, name);
      expect(second?.instanceId).toBeDefined();
      expect(second!.instanceId).not.toBe(first!.instanceId);
    }, WAIT);
    expect(second!.host).not.toBe(hosting.host);
    expect(isAlive(first!.pid)).toBe(false);

    // The survivors' supervised proxies go on with it: each sees new answers from it.
    const probe = serviceOn<{ seen(): Promise<{ ids: string[]; duplicates: number }> }>(all.find((m) => m !== hosting)!, name, LEDGER);
    const proxy = await probe.proxy();
    await vi.waitFor(async () => {
      const { ids } = await proxy.seen();
      for (const c of survivors) expect(ids.filter((id) => id.startsWith(`${c.pid}-`)).length).toBeGreaterThanOrEqual(AFTER_FAILOVER);
    }, WAIT);

    const tallies: ClientTally[] = await Promise.all(survivors.map((c) => c.stop()));
    const ledger = await proxy.seen();
    await proxy[Symbol.asyncDispose]();

    for (const tally of tallies) {
      const failed = Object.values(tally.errors).flat();
      // Every call made is accounted for: answered or failed, never silently dropped.
      expect(tally.ok.length + failed.length).toBe(tally.attempts);
      // The only failure: calls in flight when the daemon died.
      expect(Object.keys(tally.errors).filter((code) => code !== 'ERR_DAEMON_LOST')).toEqual([]);
      // Answered by the first daemon, then by the second: never back.
      const pids = tally.ok.map(([, pid]) => pid);
      expect(new Set(pids)).toEqual(new Set([first!.pid, second!.pid]));
      expect(pids.indexOf(second!.pid)).toBeGreaterThan(pids.lastIndexOf(first!.pid));
    }
    // The new daemon ran exactly the calls its clients saw it answer, each once: no failed call
    // was replayed on it, and none ran twice.
    const answeredBySecond = tallies.flatMap((t) => t.ok.filter(([, pid]) => pid === second!.pid).map(([id]) => id));
    expect(ledger.duplicates).toBe(0);
    expect([...ledger.ids].sort()).toEqual([...answeredBySecond].sort());
    const failedIds = tallies.flatMap((t) => Object.values(t.errors).flat());
    expect(failedIds.filter((id) => ledger.ids.includes(id))).toEqual([]);

    // Two daemons in all: the one killed, and the one that took over (on another machine).
    expect(new Set(daemonPids(all, name))).toEqual(new Set([first!.pid, second!.pid]));
    await probe.shutdown();
  });
});
