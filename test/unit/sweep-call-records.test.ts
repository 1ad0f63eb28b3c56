/**
 * The daemon's periodic sweep (src/daemon/sweep.ts) over stand-in channels: which stalled
 * channel it drops and which it spares, the upkeep and log rotation it runs, the dropped
 * handshakes it logs; and the per-call records (src/daemon/call-records.ts) it publishes only
 * while someone listens.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_HANDSHAKING_CONNECTIONS } from '../../src/daemon/admission.js';
import { type CallRecord, publishCall, recordingSince } from '../../src/daemon/call-records.js';
import type { Channel } from '../../src/daemon/channel.js';
import type { DaemonLog } from '../../src/daemon/log.js';
import { startSweeper } from '../../src/daemon/sweep.js';
import type { FileUpkeep } from '../../src/daemon/upkeep.js';

interface FakeChannel {
  hasPartialFrame: boolean;
  frameStartedAt: number;
  destroyed: string[];
  destroy(reason: string): void;
}

function channel(hasPartialFrame: boolean, ageMs: number): FakeChannel {
  return {
    hasPartialFrame,
    frameStartedAt: performance.now() - ageMs,
    destroyed: [],
    destroy(reason) {
      this.destroyed.push(reason);
      this.hasPartialFrame = false;
    },
  };
}

const timers: NodeJS.Timeout[] = [];
afterEach(() => {
  for (const timer of timers.splice(0)) clearInterval(timer);
});

describe('the sweep', () => {
  it('drops a channel stalled mid-frame past the timeout, and spares a fresh one, a whole one and one that moved on', async () => {
    const stalled = channel(true, 10_000);
    const fresh = channel(true, 0);
    const whole = channel(false, 10_000);
    const movedOn = channel(true, 10_000);
    const completed = channel(true, 10_000);
    const checks: string[] = [];
    const written: string[] = [];
    let dropped = MAX_HANDSHAKING_CONNECTIONS + 3;
    const timer = startSweeper(1000, {
      log: { rotateIfLarge: () => checks.push('rotate'), write: (line: string) => written.push(line) } as unknown as DaemonLog,
      upkeep: () => ({ check: () => checks.push('upkeep') }) as unknown as FileUpkeep,
      channels: () => {
        // Between the sweep's look and its second look after I/O: one frame progressed, one completed.
        queueMicrotask(() => {
          movedOn.frameStartedAt = performance.now();
          completed.hasPartialFrame = false;
        });
        return [stalled, fresh, whole, movedOn, completed] as unknown as Channel[];
      },
      takeDropped: () => {
        const n = dropped;
        dropped = 0;
        return n;
      },
    });
    timers.push(timer);
    expect(timer.hasRef()).toBe(false);
    await vi.waitFor(() => expect(stalled.destroyed).toHaveLength(1), { timeout: 5000, interval: 10 });
    expect(stalled.destroyed).toEqual(['partial frame stalled: not complete 1000 ms after its first byte']);
    for (const spared of [fresh, whole, movedOn, completed]) expect(spared.destroyed).toEqual([]);
    expect(checks.slice(0, 2)).toEqual(['upkeep', 'rotate']);
    expect(written).toEqual([`dropped ${MAX_HANDSHAKING_CONNECTIONS + 3} connection(s) awaiting their handshake: over ${MAX_HANDSHAKING_CONNECTIONS} at once`]);
  });

  it('runs without an upkeep yet (before the record is published)', async () => {
    let rotations = 0;
    timers.push(
      startSweeper(40, {
        log: { rotateIfLarge: () => rotations++, write: () => {} } as unknown as DaemonLog,
        upkeep: () => undefined,
        channels: () => [],
        takeDropped: () => 0,
      }),
    );
    await vi.waitFor(() => expect(rotations).toBeGreaterThanOrEqual(2), { timeout: 5000, interval: 10 });
  });
});

describe('the sweep, on fake timers', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  /** A sweeper over `channels` (none by default); counts its sweeps by its log rotations. */
  function sweeper(stallTimeoutMs: number, channels: FakeChannel[] = [], dropped: number[] = []) {
    const counts = { sweeps: 0, written: [] as string[] };
    timers.push(
      startSweeper(stallTimeoutMs, {
        log: { rotateIfLarge: () => counts.sweeps++, write: (line: string) => counts.written.push(line) } as unknown as DaemonLog,
        upkeep: () => undefined,
        channels: () => channels as unknown as Channel[],
        takeDropped: () => dropped.shift() ?? 0,
      }),
    );
    return counts;
  }

  it.each([
    [1000, 100],
    [200, 50],
    [40, 25],
  ])('sweeps a daemon with a stall timeout of %d ms every %d ms (a quarter of it, within 25..100 ms)', (stallTimeoutMs, period) => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    const counts = sweeper(stallTimeoutMs);
    vi.advanceTimersByTime(period - 1);
    expect(counts.sweeps).toBe(0);
    vi.advanceTimersByTime(1);
    expect(counts.sweeps).toBe(1);
    vi.advanceTimersByTime(period * 3);
    expect(counts.sweeps).toBe(4);
  });

  it('drops a channel stalled for more than the timeout, not one stalled for exactly the timeout; logs drops only when there were some', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'performance'] });
    const exactly = channel(true, 0);
    const longer = channel(true, 0);
    const counts = sweeper(1000, [exactly, longer], [0, 2, 0]);
    // The first sweep comes at 100 ms: one frame started 1000 ms before it, the other 1001 ms.
    exactly.frameStartedAt = performance.now() + 100 - 1000;
    longer.frameStartedAt = performance.now() + 100 - 1001;
    vi.advanceTimersByTime(100);
    await new Promise((resolve) => setImmediate(resolve));
    expect(longer.destroyed).toHaveLength(1);
    expect(exactly.destroyed).toEqual([]);
    vi.advanceTimersByTime(200);
    expect(counts.written).toEqual([`dropped 2 connection(s) awaiting their handshake: over ${MAX_HANDSHAKING_CONNECTIONS} at once`]);
  });
});

describe('per-call records', () => {
  it('are not timed while nobody listens', () => {
    expect(recordingSince()).toBeUndefined();
  });

  it('while someone listens: how long each call queued and ran, its code only when it has one', () => {
    const records: CallRecord[] = [];
    const listener = (record: unknown) => records.push(record as CallRecord);
    subscribe('loopback-singleton:daemon:call', listener);
    try {
      const since = recordingSince();
      expect(typeof since).toBe('number');
      const now = performance.now();
      publishCall('ran', 1, 'ok', now - 5000, now - 2000);
      publishCall('failed', 2, 'error', now - 5000, now - 5000, 'ERR_REMOTE');
      publishCall('withdrawn', 3, 'cancelled', now - 5000, undefined);
      publishCall('unseen', 4, 'ok', undefined, now);
      expect(records.map((record) => [record.method, record.id, record.outcome, record.code])).toEqual([
        ['ran', 1, 'ok', undefined],
        ['failed', 2, 'error', 'ERR_REMOTE'],
        ['withdrawn', 3, 'cancelled', undefined],
      ]);
      expect('code' in records[0]!).toBe(false);
      // Queued from admission to start, ran from start to now; a call that never ran: queued until now, ran 0.
      expect(records[0]!.queuedMs).toBeCloseTo(3000, 6);
      expect(records[0]!.runMs).toBeGreaterThanOrEqual(2000);
      expect(records[0]!.runMs).toBeLessThan(60_000);
      expect(records[1]!.queuedMs).toBe(0);
      expect(records[2]!.queuedMs).toBeGreaterThanOrEqual(5000);
      expect(records[2]!.queuedMs).toBeLessThan(60_000);
      expect(records[2]!.runMs).toBe(0);
    } finally {
      unsubscribe('loopback-singleton:daemon:call', listener);
    }
    expect(recordingSince()).toBeUndefined();
  });
});
