/**
 * `scope: 'cluster'` when etcd itself fails, end to end (real 3-member etcd cluster, "machines"
 * as in ./machines.ts, clients as real processes): one member killed mid-run changes nothing
 * for the clients; the quorum lost makes the serving daemon stop serving once its lease's local
 * deadline passes (no daemon serves while etcd cannot tell who may), and once the quorum is
 * back a new daemon serves. Outcomes are counted; no duration is asserted.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { FIXTURES, isAlive, waitForExit } from '../support/daemon.js';
import { ETCD_MISSING, type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';
import { type ClientTally, daemonPids, killDaemonsAtEnd, machines, publishedCount, serviceOn, startClient } from './machines.js';
import { uniqueName } from './support.js';

const LEDGER = `${pathToFileURL(join(FIXTURES, 'ledger.mjs')).href}:Ledger`;
const WAIT = { timeout: 60_000, interval: 100 };
/** Calls each client must see answered by the daemon the test looks at. */
const ANSWERS = 10;

type Ledger = { seen(): Promise<{ ids: string[]; duplicates: number }> };

async function cluster(): Promise<EtcdCluster> {
  const started = await startEtcdCluster();
  onTestFinished(() => started.stop());
  return started;
}

/** The ledger of the daemon that serves now, read through a proxy on `machine` (closed after). */
async function ledgerNow(svc: ReturnType<typeof serviceOn<Ledger>>): Promise<{ ids: string[]; duplicates: number; pid: number }> {
  const proxy = await svc.proxy();
  try {
    return { ...(await proxy.seen()), pid: (await svc.ping()).pid };
  } finally {
    await proxy[Symbol.asyncDispose]();
  }
}

/** Every call is accounted for: answered or failed. */
function expectAccounted(tally: ClientTally): void {
  expect(tally.ok.length + Object.values(tally.errors).flat().length).toBe(tally.attempts);
}

describe.skipIf(ETCD_MISSING !== undefined)(`scope 'cluster' when etcd fails${ETCD_MISSING ? ` (${ETCD_MISSING})` : ''}`, () => {
  it('one etcd member killed mid-run: the same daemon goes on serving every client, no call fails', { timeout: 120_000 }, async () => {
    const etcd = await cluster();
    const name = uniqueName('member');
    const all = machines(etcd.registry, 2);
    killDaemonsAtEnd(all, name);
    const clients = all.map((m) => startClient(m, name, LEDGER));
    await Promise.all(clients.map((c) => c.ready));
    const probe = serviceOn<Ledger>(all[1]!, name, LEDGER);
    const before = await ledgerNow(probe);

    await etcd.kill(0);
    await vi.waitFor(async () => {
      const { ids } = await ledgerNow(probe);
      for (const c of clients)
        expect(ids.filter((id) => id.startsWith(`${c.pid}-`)).length - before.ids.filter((id) => id.startsWith(`${c.pid}-`)).length).toBeGreaterThanOrEqual(ANSWERS);
    }, WAIT);

    const tallies = await Promise.all(clients.map((c) => c.stop()));
    const after = await ledgerNow(probe);
    for (const tally of tallies) {
      expectAccounted(tally);
      expect(tally.errors).toEqual({});
      expect(new Set(tally.ok.map(([, pid]) => pid))).toEqual(new Set([before.pid]));
    }
    expect(after.pid).toBe(before.pid);
    expect(after.duplicates).toBe(0);
    expect(after.ids.sort()).toEqual(tallies.flatMap((t) => t.ok.map(([id]) => id)).sort());
    expect(daemonPids(all, name)).toEqual([before.pid]);
    await probe.shutdown();
  });

  it('the etcd quorum lost: the serving daemon stops within its lease, none starts meanwhile; once the quorum is back a new one serves', {
    timeout: 150_000,
  }, async () => {
    const etcd = await cluster();
    const name = uniqueName('quorum');
    const all = machines(etcd.registry, 2);
    killDaemonsAtEnd(all, name);
    const clients = all.map((m) => startClient(m, name, LEDGER));
    await Promise.all(clients.map((c) => c.ready));
    const [oldPid] = daemonPids(all, name);
    expect(oldPid).toBeDefined();

    const stopped = await etcd.stopQuorum();
    // Its lease can no longer be renewed: it stops serving and exits, whatever its clients do.
    await waitForExit(oldPid!, 60_000);
    // Nobody could be elected meanwhile: one daemon ever published.
    expect(publishedCount(all, name)).toBe(1);
    expect(daemonPids(all, name).filter(isAlive)).toEqual([]);

    await Promise.all(stopped.map((index) => etcd.restart(index)));
    // A new daemon, and every client's supervised proxy reaches it again.
    const probe = serviceOn<Ledger>(all[0]!, name, LEDGER);
    let newPid = 0;
    await vi.waitFor(async () => {
      const now = await ledgerNow(probe);
      newPid = now.pid;
      for (const c of clients) expect(now.ids.filter((id) => id.startsWith(`${c.pid}-`)).length).toBeGreaterThanOrEqual(ANSWERS);
    }, WAIT);
    expect(newPid).not.toBe(oldPid);

    const tallies = await Promise.all(clients.map((c) => c.stop()));
    const ledger = await ledgerNow(probe);
    for (const tally of tallies) {
      expectAccounted(tally);
      const pids = tally.ok.map(([, pid]) => pid);
      expect(new Set(pids)).toEqual(new Set([oldPid, newPid]));
      // Never back to the old one once the new one answered.
      expect(pids.indexOf(newPid)).toBeGreaterThan(pids.lastIndexOf(oldPid!));
    }
    // The new daemon ran exactly the calls it answered, each once: none of the failed calls.
    expect(ledger.duplicates).toBe(0);
    expect(ledger.ids.sort()).toEqual(tallies.flatMap((t) => t.ok.filter(([, pid]) => pid === newPid).map(([id]) => id)).sort());
    expect(publishedCount(all, name)).toBe(2);
    await probe.shutdown();
  });
});
