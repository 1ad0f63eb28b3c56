/**
 * What src/client/cluster-reach.ts decides, with a registry stand-in instead of etcd: a wait
 * for a record to change (`recordChange`) told by the watch alone, or by the poll alone, and
 * ended by its signal; and what a failed connect means (`connectCluster`'s judgement) when the
 * record is still this daemon's, went, is another daemon's, or when the connect failed for
 * lack of file descriptors. The in-process files on a real etcd cluster
 * (./client-inproc.test.ts and the others) reach the same code, where either way of seeing a
 * change is enough for every outcome.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { connectCluster, isInstance, recordChange, recordMetadata } from '../../src/client/cluster-reach.js';
import type { ClusterAttempt, StartAttempt, StartPlan } from '../../src/client/plan.js';
import { ConnectionFailedError, LoopbackSingletonError } from '../../src/errors.js';
import type { ClusterRecord } from '../../src/registry/record.js';
import type { RecordRead, Registry } from '../../src/registry/registry.js';
import { freePort } from '../support/stale.js';
import { record, track } from './support.js';

/** The port whose connect fails with EMFILE (set by a test; 0: none). */
let emfilePort = 0;

vi.mock('node:net', async (load) => {
  const net = await load<typeof import('node:net')>();
  const connect = ((...args: Parameters<typeof net.connect>) => {
    const options = args[0] as { port?: number };
    if (emfilePort === 0 || options?.port !== emfilePort) return net.connect(...args);
    // What a process out of file descriptors gets from connect(): the socket errors at once.
    const socket = new net.Socket();
    process.nextTick(() => socket.destroy(Object.assign(new Error(`connect EMFILE 127.0.0.1:${emfilePort}`), { code: 'EMFILE', errno: -24, syscall: 'connect' })));
    return socket;
  }) as typeof net.connect;
  return { ...net, connect, default: { ...net, connect } };
});

type Read = RecordRead<ClusterRecord>;

/**
 * A registry stand-in: `discover()` answers with `reads` in turn (the last one again once they
 * run out) and counts its calls; `watch()` hands its listener to the test and counts closes.
 */
function standIn(reads: Read[], onDiscover?: (calls: number) => void) {
  const seen = { discovers: 0, watches: 0, closes: 0, listener: undefined as ((read: Read) => void) | undefined };
  const registry = {
    where: 'etcd://stand-in:2379',
    discover: async () => {
      const read = reads[Math.min(seen.discovers, reads.length - 1)]!;
      seen.discovers += 1;
      onDiscover?.(seen.discovers);
      return read;
    },
    watch: async (listener: (read: Read) => void) => {
      seen.watches += 1;
      seen.listener = listener;
      return {
        close: async () => {
          seen.closes += 1;
        },
      };
    },
    acquireStartRight: async () => undefined,
    publish: async () => {
      throw new Error('not played here');
    },
    close: async () => {},
  } as unknown as Registry<ClusterRecord>;
  const cluster: ClusterAttempt = { registry, endpoints: undefined as never, key: new Uint8Array(32), releases: new Set(), tls: undefined };
  return { cluster, seen };
}

const valid = (current: ClusterRecord): Read => ({ status: 'valid', record: current, fencingToken: 1n });
const ABSENT: Read = { status: 'absent' };
const UNREADABLE: Read = { status: 'unreadable', reason: 'etcd did not answer', error: new Error('etcd did not answer') };
const MALFORMED: Read = { status: 'malformed', reason: 'not JSON' };

describe('recordChange: the watch and the poll each see a change on their own', () => {
  it('isInstance keeps only a valid record of that instance', () => {
    const mine = record();
    const keep = isInstance(mine.instanceId);
    expect([valid(mine), valid(record()), ABSENT, MALFORMED, UNREADABLE].map(keep)).toEqual([true, false, false, false, false]);
  });

  it('the watch alone (every poll reads the record still there): a failed read or the same record is no change, another record is', async () => {
    const mine = record();
    const controller = new AbortController();
    // Once the watch told a change, a wait still going three polls later is ended (and fails the test).
    let giveUpAt = Number.POSITIVE_INFINITY;
    const { cluster, seen } = standIn([valid(mine)], (calls) => {
      if (calls >= giveUpAt) controller.abort(new Error('the watch did not end the wait'));
    });
    const waiting = track(recordChange(cluster, isInstance(mine.instanceId), controller.signal));
    await vi.waitFor(() => expect(seen.listener).toBeDefined());
    seen.listener!(valid(mine));
    seen.listener!(UNREADABLE);
    // Two polls after those: had either ended the wait, it would have ended before the next poll.
    const polled = seen.discovers;
    await vi.waitFor(() => expect(seen.discovers).toBeGreaterThanOrEqual(polled + 2));
    expect(waiting.state.status).toBe('pending');
    expect(seen.closes).toBe(0);

    seen.listener!(valid(record()));
    const told = seen.discovers;
    giveUpAt = told + 3;
    await waiting.promise;
    // Ended by the watch: at most the poll already under way read again, and the watch is closed.
    expect(seen.discovers).toBeLessThanOrEqual(told + 1);
    expect(seen.closes).toBe(1);
  });

  it('the watch alone: no record at all is a change too', async () => {
    const mine = record();
    const controller = new AbortController();
    let giveUpAt = Number.POSITIVE_INFINITY;
    const { cluster, seen } = standIn([valid(mine)], (calls) => {
      if (calls >= giveUpAt) controller.abort(new Error('the watch did not end the wait'));
    });
    const waiting = recordChange(cluster, isInstance(mine.instanceId), controller.signal);
    await vi.waitFor(() => expect(seen.listener).toBeDefined());
    seen.listener!(ABSENT);
    giveUpAt = seen.discovers + 3;
    await waiting;
    expect(seen.closes).toBe(1);
  });

  it('the poll alone (a watch that never fires): each read that keeps the record is no change, a failed one neither; the first that does not ends it', async () => {
    const mine = record();
    const controller = new AbortController();
    const { cluster, seen } = standIn([valid(mine), valid(mine), UNREADABLE, valid(mine), ABSENT, valid(record())], (calls) => {
      if (calls >= 8) controller.abort(new Error('the poll did not end the wait'));
    });
    await recordChange(cluster, isInstance(mine.instanceId), controller.signal);
    expect(seen.discovers).toBe(5);
    expect(seen.watches).toBe(1);
    expect(seen.closes).toBe(1);
  });

  it('the signal ends the wait with its reason, and the watch is closed; one aborted before the wait ends it without a read', async () => {
    const mine = record();
    const controller = new AbortController();
    const reason = new Error('the caller gave up');
    // The poll keeps finding the record; the third read aborts.
    const { cluster, seen } = standIn([valid(mine)], (calls) => {
      if (calls === 3) controller.abort(reason);
    });
    await expect(recordChange(cluster, isInstance(mine.instanceId), controller.signal)).rejects.toBe(reason);
    expect(seen.discovers).toBe(3);
    expect(seen.closes).toBe(1);

    const early = new AbortController();
    early.abort(reason);
    const before = standIn([ABSENT]);
    await expect(recordChange(before.cluster, isInstance(mine.instanceId), early.signal)).rejects.toBe(reason);
    expect(before.seen.discovers).toBe(0);
    expect(before.seen.closes).toBe(1);
  });
});

/** A plan for connecting to a daemon of `name` (what `connectCluster` reads of one). */
function planOf(name: string): StartPlan {
  return {
    name,
    factoryId: 'f'.repeat(16),
    options: { maxFrameBytes: 1024 * 1024, connectTimeoutMs: 5000, startTimeoutMs: 5000, cluster: { leaseTtlSeconds: 7 } },
  } as unknown as StartPlan;
}

describe("connectCluster's judgement of a failed connect, by the record read after it", () => {
  /** The record of a daemon at a port nothing listens on, and an attempt whose registry reads `after` once the connect failed. */
  async function refused(after: (mine: ClusterRecord) => Read) {
    const port = await freePort();
    const mine = record('127.0.0.1', port);
    const { cluster, seen } = standIn([after(mine)]);
    const attempt: StartAttempt = { plan: planOf(`judged-${randomUUID().slice(0, 8)}`), deadline: performance.now() + 5000, standby: undefined, cluster };
    const error = await connectCluster(attempt, recordMetadata(mine)).then(
      () => {
        throw new Error('expected a rejection');
      },
      (rejected: unknown) => rejected as Error & { code?: string },
    );
    return { error, mine, port, seen, name: attempt.plan.name };
  }

  it("its record still current: the daemon is alive and not answering (ERR_DAEMON_UNRESPONSIVE), the connect's own message quoted", async () => {
    const { error, mine, port, seen, name } = await refused((mine) => valid(mine));
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect(error.code).toBe('ERR_DAEMON_UNRESPONSIVE');
    const cause = error.cause as Error & { code?: string };
    expect(cause.message).toBe(`Cannot connect to the daemon at 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(error.message).toBe(
      `The cluster daemon "${name}" (127.0.0.1:${port}, pid ${mine.pid} on ${mine.machine}) holds its place in etcd but did not complete a handshake: ` +
        `${cause.message}; it is waited for until it answers or its lease (7 s) runs out`,
    );
    expect(seen.discovers).toBe(1);
  });

  it("its record gone, or replaced by another daemon's meanwhile: stale, the connect's own error as it is", async () => {
    for (const after of [() => ABSENT, () => MALFORMED, () => UNREADABLE, () => valid(record('127.0.0.1', 4000))]) {
      const { error, port, seen } = await refused(after);
      expect(error).toBeInstanceOf(ConnectionFailedError);
      expect(error.code).toBe('ERR_CONNECTION_FAILED');
      expect(error.message).toBe(`Cannot connect to the daemon at 127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}`);
      expect(seen.discovers).toBe(1);
    }
  });

  it('a connect that failed for lack of file descriptors (EMFILE): a local fault, final, the record not even read', async () => {
    emfilePort = await freePort();
    try {
      const mine = record('127.0.0.1', emfilePort);
      const { cluster, seen } = standIn([valid(mine)]);
      const attempt: StartAttempt = { plan: planOf('starved'), deadline: performance.now() + 5000, standby: undefined, cluster };
      const error = await connectCluster(attempt, recordMetadata(mine)).then(
        () => {
          throw new Error('expected a rejection');
        },
        (rejected: unknown) => rejected as Error & { code?: string },
      );
      expect(error).toBeInstanceOf(LoopbackSingletonError);
      expect(error).not.toBeInstanceOf(ConnectionFailedError);
      expect(error.code).toBe('ERR_LOOPBACK_SINGLETON');
      expect(error.message).toContain(`open a connection to the cluster daemon "starved" at 127.0.0.1:${emfilePort}`);
      expect(error.message).toContain('too many open files');
      expect(seen.discovers).toBe(0);
    } finally {
      emfilePort = 0;
    }
  });
});
