// The soak's silent-object-change detector, for one proxy (used by scripts/soak/client.mjs).
//
// Every soak client increments one shared Counter, whose inc() answers the new count. The
// daemon runs the calls of one connection in arrival order, one at a time, and a proxy sends
// its calls in the order they are made (also across a restart), so on one proxy the answers,
// in issue order, strictly increase while they come from the same object. An answer not
// greater than the previous one in issue order, with no failed call in between, means the
// proxy reached a new object (a new daemon) without telling its caller: the library promises
// that a lost daemon fails at least one call on the proxy (ERR_DAEMON_LOST) before any call
// reaches a new one.
//
// Several lanes share a proxy and settle out of issue order (one lane's call fails at once
// while the other's waits for a restart), so each outcome is filed under its issue number and
// checked only once every earlier call on the proxy has settled.

/**
 * One proxy's calls in issue order.
 * @example
 * const order = new IssueOrder((change) => report(change));
 * const seq = order.issue(); // right before the call, in the same synchronous step
 * order.settle(seq, await outcomeOf(proxy.inc())); // { ok } | { code } | 'HANG'
 */
export class IssueOrder {
  #issued = 0;
  #next = 0;
  /** seq -> outcome, settled but not yet checked (an earlier call is still in flight) */
  #settled = new Map();
  /** The last answer in issue order since the last failure; undefined right after one. */
  #last;
  #lastAt = 0;
  #onSilentChange;

  /** @param {(change: { seq: number, previous: number, value: number, previousAt: number, at: number }) => void} onSilentChange */
  constructor(onSilentChange) {
    this.#onSilentChange = onSilentChange;
  }

  /** The issue number of the call about to be made. */
  issue() {
    return this.#issued++;
  }

  /** Calls settled but not yet checked (an earlier one is still in flight). */
  get waiting() {
    return this.#settled.size;
  }

  /** Files call `seq`'s outcome: `{ ok: value }`, `{ code }` (it failed) or 'HANG' (its fate is unknown). */
  settle(seq, outcome) {
    this.#settled.set(seq, outcome);
    while (this.#settled.has(this.#next)) {
      this.#check(this.#next, this.#settled.get(this.#next));
      this.#settled.delete(this.#next);
      this.#next++;
    }
  }

  #check(seq, outcome) {
    if (outcome === 'HANG' || !('ok' in outcome) || typeof outcome.ok !== 'number') {
      // A failure (or a call whose fate is unknown) in between: the next answer may come
      // from another object, legitimately.
      this.#last = undefined;
      return;
    }
    const value = outcome.ok;
    const at = Date.now();
    if (this.#last !== undefined && value <= this.#last) this.#onSilentChange({ seq, previous: this.#last, value, previousAt: this.#lastAt, at });
    this.#last = value;
    this.#lastAt = at;
  }
}
