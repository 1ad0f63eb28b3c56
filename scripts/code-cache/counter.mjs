// The object the code-cache warm-up hosts (scripts/code-cache/warm-up.mjs).
export class Counter {
  #value = 0;

  inc(by = 1) {
    this.#value += by;
    return this.#value;
  }

  async later() {
    await new Promise((resolve) => setTimeout(resolve, 1));
    return this.#value;
  }

  fail() {
    throw new RangeError('as asked');
  }
}
