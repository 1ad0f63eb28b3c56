// The object the inspector screenshot hosts: a counter, and a call that holds the mailbox.
export class Counter {
  value = 0;

  inc() {
    return ++this.value;
  }

  /** Holds the mailbox for `ms`: the call the screenshot catches running. */
  async hold(ms) {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.value;
  }
}
