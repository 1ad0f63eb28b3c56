// The object the demo hosts in the daemon: one Counter shared by every worker process.
// It knows nothing about loopback-singleton; the daemon imports it and runs `new Counter()`.
export class Counter {
  #value = 0;

  /** Adds one and returns the new value. */
  inc() {
    this.#value += 1;
    return this.#value;
  }

  /** The current value. */
  get() {
    return this.#value;
  }

  /**
   * Adds one the racy way: read, yield to the event loop, write. If two calls ever ran at
   * the same time, both would read the same value and one increment would be lost (and a
   * value returned twice). The daemon's mailbox runs calls strictly one at a time, async
   * methods included, so this never happens.
   */
  async incAfterTick() {
    const read = this.#value;
    await new Promise((resolve) => setImmediate(resolve));
    this.#value = read + 1;
    return this.#value;
  }
}
