// The object the soak hosts: one counter shared by every soak client process. `inc()` yields
// to the event loop once before it answers, so that calls from several clients really queue
// up in the daemon's mailbox (a forced shutdown then has queued calls to refuse).
export class Counter {
  #value = 0;

  /** Adds one and returns the new value (after one turn of the event loop). */
  async inc() {
    const read = this.#value;
    await new Promise((resolve) => setImmediate(resolve));
    this.#value = read + 1;
    return this.#value;
  }

  /** The current value. */
  get() {
    return this.#value;
  }

  /**
   * Keeps the daemon's event loop busy on the CPU for `ms` (synchronously: no timer, no
   * socket, no other call is served meanwhile), then returns how long it spun. The soak's
   * `busy` chaos: a live daemon that does not answer for a while.
   */
  spin(ms) {
    const start = performance.now();
    while (performance.now() - start < ms) {
      // busy on purpose
    }
    return Math.round(performance.now() - start);
  }

  /**
   * Never settles, while a timer keeps the daemon's event loop alive: the soak's
   * `never-settle` chaos, a hosted method stuck for good. Only the daemon's drain deadline
   * (or a kill) ends it.
   */
  hang() {
    return new Promise(() => {
      setInterval(() => {}, 1000);
    });
  }
}
