/**
 * The local lease deadline (src/registry/lease-clock.ts) on made-up instants: it counts from
 * when a renewal was SENT, never from when its answer came, so that a process paused in
 * between finds its lease expired when it wakes.
 */
import { describe, expect, it } from 'vitest';
import { LeaseClock } from '../../src/registry/lease-clock.js';

describe('the lease clock', () => {
  it('before any renewal, the deadline is the grant request plus the TTL asked for', () => {
    const clock = new LeaseClock(1000, 5);
    expect(clock.deadline).toBe(6000);
    expect(clock.holds(5999)).toBe(true);
    expect(clock.holds(6000)).toBe(false);
  });

  it('an answer moves the deadline to its renewal send time plus the TTL answered', () => {
    const clock = new LeaseClock(0, 5);
    clock.sent(2000);
    clock.answered(5);
    expect(clock.deadline).toBe(7000);
    // etcd raised the TTL to its minimum: the answer's TTL counts.
    clock.sent(3000);
    clock.answered(8);
    expect(clock.deadline).toBe(11_000);
  });

  it('a process paused between sending a renewal and reading its answer wakes with its lease expired', () => {
    const clock = new LeaseClock(0, 2);
    clock.sent(1000);
    // Paused for 10 s: the answer, read at 11 000, still counts from the send at 1000.
    clock.answered(2);
    expect(clock.deadline).toBe(3000);
    expect(clock.holds(11_000)).toBe(false);
  });

  it('answers are credited to the oldest renewal unanswered, the safe side when some were lost', () => {
    const clock = new LeaseClock(0, 5);
    clock.sent(1000);
    clock.sent(2000);
    clock.sent(3000);
    expect(clock.pending).toBe(3);
    clock.answered(5);
    expect(clock.deadline).toBe(6000);
    expect(clock.pending).toBe(2);
  });

  it('a replaced stream forgets its unanswered renewals: an answer with none pending moves nothing', () => {
    const clock = new LeaseClock(0, 5);
    clock.sent(1000);
    clock.reset();
    expect(clock.pending).toBe(0);
    clock.answered(5);
    expect(clock.deadline).toBe(5000);
  });

  it('never moves back: an answer with a shorter reach than the deadline leaves it', () => {
    const clock = new LeaseClock(10_000, 5);
    clock.sent(11_000);
    clock.answered(1);
    expect(clock.deadline).toBe(15_000);
  });

  it('a TTL of 0 (the lease is gone) or an expire() ends it for good', () => {
    const zero = new LeaseClock(0, 5);
    zero.sent(1000);
    zero.answered(0);
    expect(zero.deadline).toBe(Number.NEGATIVE_INFINITY);
    zero.sent(2000);
    zero.answered(5);
    expect(zero.holds(0)).toBe(false);

    const expired = new LeaseClock(0, 5);
    expired.expire();
    expect(expired.holds(0)).toBe(false);
  });
});
