/**
 * The local lease-expiry deadline: until when this process surely still holds its lease,
 * computed from what it sent and what came back, with no round trip to ask.
 *
 * The registry counts a lease's TTL from when it RECEIVED the grant or the renewal, on its own
 * clock. This process knows only when it SENT them, which is earlier. So the deadline is
 * `send time of the renewal answered + the TTL in the answer`: never later than the
 * registry's own expiry (as long as both clocks run at the same rate), and a process paused
 * between sending and reading the answer finds its deadline already passed when it wakes.
 *
 * Renewals travel on one stream and are answered in order. An answer is credited to the
 * OLDEST renewal still unanswered: if some were lost (a stream that broke), that is earlier
 * than the real one, the safe side. Times are monotonic ms (`performance.now()`).
 */
export class LeaseClock {
  /** Send times of renewals not answered yet, oldest first. */
  #sent: number[] = [];
  #deadline: number;
  #expired = false;

  /**
   * @param grantSentAt when the grant request was sent (monotonic ms)
   * @param ttlSeconds the TTL asked for: the registry grants at least that (etcd raises a TTL below its minimum)
   */
  constructor(grantSentAt: number, ttlSeconds: number) {
    this.#deadline = grantSentAt + ttlSeconds * 1000;
  }

  /** Until when the lease surely holds (monotonic ms); `-Infinity` once {@link expire}d. */
  get deadline(): number {
    return this.#expired ? Number.NEGATIVE_INFINITY : this.#deadline;
  }

  /** Renewals sent and not answered yet. */
  get pending(): number {
    return this.#sent.length;
  }

  /** A renewal is being sent now (call it before the write). */
  sent(at: number = performance.now()): void {
    this.#sent.push(at);
  }

  /**
   * A renewal was answered with `ttlSeconds` (etcd: the response's `TTL`). A TTL of 0 or less
   * means the lease is gone: the clock expires. An answer with no renewal pending proves
   * nothing about when it was sent, and is ignored.
   */
  answered(ttlSeconds: number): void {
    const sentAt = this.#sent.shift();
    if (!(ttlSeconds > 0)) {
      this.expire();
      return;
    }
    if (sentAt === undefined || this.#expired) return;
    this.#deadline = Math.max(this.#deadline, sentAt + ttlSeconds * 1000);
  }

  /** The stream of renewals was replaced: what was sent on the old one will never be answered. */
  reset(): void {
    this.#sent = [];
  }

  /** The lease is gone, whatever the deadline said. */
  expire(): void {
    this.#expired = true;
  }

  /** Whether the lease surely holds at `now`. */
  holds(now: number = performance.now()): boolean {
    return now < this.deadline;
  }
}
