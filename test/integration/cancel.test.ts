/**
 * Cancellation that reaches the daemon, on real processes: a call whose caller gave up before
 * it started never runs (the counter it would have moved proves it), a running call sees its
 * `callSignal()` abort, a call whose deadline passed while it waited is not run, `DaemonInfo`
 * counts the withdrawn calls, and the per-call records reach a subscriber in the daemon.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { withCallOptions } from '../../dist/src/index.js';
import { service } from '../support/clients.js';
import { FIXTURES, rawHandshake, RawPeer, startDaemon } from '../support/daemon.js';
import { until } from '../support/wait.js';

const CANCELLABLE_URL = pathToFileURL(join(FIXTURES, 'cancellable.mjs')).href;

interface Cancellable {
  inc(): number;
  get(): number;
  fail(): never;
  untilCancelled(): Promise<string>;
  aborted(): Array<string | undefined>;
  listen(): void;
  collected(): Array<Record<string, unknown>>;
}

function cancellable() {
  return service<Cancellable>({}, `${CANCELLABLE_URL}:Cancellable`);
}

describe('cancellation', () => {
  it('an aborted call that has not started never runs; the running call sees its signal abort; DaemonInfo counts the withdrawn one', async () => {
    const svc = cancellable();
    await using proxy = await svc.proxy();
    const blocker = new AbortController();
    const queued = new AbortController();
    // Same connection, so the daemon receives them in this order: the first runs, the second waits.
    const running = withCallOptions(proxy, { signal: blocker.signal })
      .untilCancelled()
      .catch((e: unknown) => e);
    const waiting = withCallOptions(proxy, { signal: queued.signal })
      .inc()
      .catch((e: unknown) => e);
    const reason = new Error('changed my mind');
    queued.abort(reason);
    expect(await waiting).toBe(reason);
    blocker.abort();
    expect(await running).toBe(blocker.signal.reason);

    // Answered after both cancels (one connection, in order): inc never ran.
    expect(await proxy.get()).toBe(0);
    expect(await proxy.aborted()).toEqual(['ERR_CALL_CANCELLED']);
    const info = await svc.ping();
    expect(info.callsWithdrawn).toBe(1);
    expect(info.queued).toBe(0);
  });

  it('a timed-out call is withdrawn if it waits and signalled if it runs', async () => {
    const svc = cancellable();
    await using proxy = await svc.proxy();
    // The waiting call's caller gives up first, so its cancel reaches the daemon while the
    // running call, which only its own cancel ends, still holds the mailbox.
    const running = withCallOptions(proxy, { timeoutMs: 200 })
      .untilCancelled()
      .catch((e: unknown) => e);
    const waiting = withCallOptions(proxy, { timeoutMs: 50 })
      .inc()
      .catch((e: unknown) => e);
    expect(await running).toMatchObject({ code: 'ERR_CALL_TIMEOUT' });
    expect(await waiting).toMatchObject({ code: 'ERR_CALL_TIMEOUT' });
    // The daemon ended untilCancelled only through its signal; then inc was not run.
    expect(await proxy.aborted()).toEqual(['ERR_CALL_CANCELLED']);
    expect(await proxy.get()).toBe(0);
    expect((await svc.ping()).callsWithdrawn).toBe(1);
  });

  it('a call whose deadline passed while it waited is not run (no cancel needed); a waiting call cancelled is answered ERR_CALL_CANCELLED', async () => {
    const daemon = await startDaemon({ factory: { module: CANCELLABLE_URL, export: 'Cancellable', argsHash: 'x', codeHash: undefined } });
    const peer = await RawPeer.open(daemon.metadata);
    await rawHandshake(peer, daemon.token);
    peer.send({ t: 'call', id: 1, m: 'untilCancelled', a: [] });
    const deadline = Date.now() + 1;
    peer.send({ t: 'call', id: 2, m: 'inc', a: [], dl: deadline });
    peer.send({ t: 'call', id: 3, m: 'inc', a: [] });
    peer.send({ t: 'ping', id: 4 });
    // The ping's answer proves the daemon holds both calls; wait out the deadline on the shared clock.
    expect(await peer.next()).toMatchObject({ t: 'reply', id: 4, r: { queued: 2, running: 1 } });
    await until(() => Date.now() > deadline, 'the deadline to pass');
    peer.send({ t: 'cancel', id: 3 });
    peer.send({ t: 'cancel', id: 1 });
    // A cancel for an unknown or answered id is ignored.
    peer.send({ t: 'cancel', id: 99 });
    expect(await peer.next()).toMatchObject({ t: 'error', id: 3, e: { code: 'ERR_CALL_CANCELLED' } });
    expect(await peer.next()).toEqual({ t: 'reply', id: 1, r: 'cancelled' });
    expect(await peer.next()).toMatchObject({ t: 'error', id: 2, e: { code: 'ERR_CALL_TIMEOUT' } });
    // A deadline already past on an idle mailbox: not run either.
    peer.send({ t: 'call', id: 5, m: 'inc', a: [], dl: Date.now() - 1 });
    expect(await peer.next()).toMatchObject({ t: 'error', id: 5, e: { code: 'ERR_CALL_TIMEOUT' } });
    peer.send({ t: 'call', id: 6, m: 'get', a: [] });
    expect(await peer.next()).toEqual({ t: 'reply', id: 6, r: 0 });
    peer.send({ t: 'ping', id: 7 });
    expect(await peer.next()).toMatchObject({ t: 'reply', id: 7, r: { callsWithdrawn: 3, callsServed: 2 } });
  });
});

describe('per-call records', () => {
  it('reach a loopback-singleton:daemon:call subscriber in the daemon: method, outcome, queued and run time', async () => {
    const svc = cancellable();
    await using proxy = await svc.proxy();
    await proxy.listen();
    await proxy.inc();
    await proxy.fail().catch(() => {});
    const blocker = new AbortController();
    const queued = new AbortController();
    const running = withCallOptions(proxy, { signal: blocker.signal })
      .untilCancelled()
      .catch(() => {});
    const waiting = withCallOptions(proxy, { signal: queued.signal })
      .inc()
      .catch(() => {});
    queued.abort();
    blocker.abort();
    await Promise.all([running, waiting]);
    const records = await proxy.collected();
    expect(records.map(({ method, outcome, code }) => ({ method, outcome, code }))).toEqual([
      { method: 'inc', outcome: 'ok', code: undefined },
      { method: 'fail', outcome: 'error', code: 'ERR_REMOTE' },
      { method: 'inc', outcome: 'cancelled', code: undefined },
      { method: 'untilCancelled', outcome: 'ok', code: undefined },
      // Published before its answer goes out, so the call that reads them sees its own.
      { method: 'collected', outcome: 'ok', code: undefined },
    ]);
    for (const record of records) {
      expect(record.queuedMs).toBeGreaterThanOrEqual(0);
      expect(record.runMs).toBeGreaterThanOrEqual(0);
    }
    expect(records[2]!.runMs).toBe(0);
  });
});
