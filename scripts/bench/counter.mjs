// The object the bench hosts: a Counter as small as a hosted object gets, so that every figure
// measures the runtime (connection, codec, mailbox), not the method. The baseline echo server
// answers with the same kind of value.
export class Counter {
  #value = 0;

  /** Adds one and returns the new value. */
  inc() {
    return ++this.#value;
  }

  /** The current value: the multi-client figure checks it against the calls made. */
  get() {
    return this.#value;
  }

  /** The peers' echo figures (peers/): `value` back as it came. */
  echo(value) {
    return value;
  }

  /** The stream figure: `n` items `{ i, pad }`, `pad` a string of `size` bytes. */
  async *items(n, size) {
    const pad = 'x'.repeat(size);
    for (let i = 0; i < n; i++) yield { i, pad };
  }
}
