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
}
