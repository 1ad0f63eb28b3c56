/**
 * The mailbox in-process, with a recording sink: calls run one at a time in arrival order,
 * in batches (one p-queue task per batch), and a forced close answers every call that has not
 * started, wherever it waits (a queued batch, or the rest of the running one).
 */
import { describe, expect, it } from 'vitest';
import type { CallSink } from '../../dist/src/daemon/mailbox.js';
import { Mailbox } from '../../dist/src/daemon/mailbox.js';
import type { WireError } from '../../dist/src/errors.js';

type Answer = { id: number; ok: true; result: unknown } | { id: number; ok: false; code: string };

function recorder(): CallSink & { answers: Answer[] } {
  const answers: Answer[] = [];
  return {
    answers,
    replyOk: (id: number, result: unknown) => answers.push({ id, ok: true, result }),
    replyError: (id: number, error: WireError) => answers.push({ id, ok: false, code: error.code }),
  };
}

/** An object whose `work` records overlap and waits on a gate the test opens. */
class Gated {
  running = 0;
  maxRunning = 0;
  started: string[] = [];
  readonly #gates: Array<() => void> = [];
  async work(tag: string): Promise<string> {
    this.started.push(tag);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    await new Promise<void>((resolve) => this.#gates.push(resolve));
    this.running--;
    return tag;
  }
  now(tag: string): string {
    this.started.push(tag);
    return tag;
  }
  /** Lets the oldest waiting `work` call finish; resolves once it has been answered. */
  async release(): Promise<void> {
    while (this.#gates.length === 0) await new Promise((resolve) => setImmediate(resolve));
    this.#gates.shift()!();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('Mailbox', () => {
  it('runs calls admitted while others run one at a time, in arrival order, sync and async alike', async () => {
    const object = new Gated();
    const mailbox = new Mailbox(object, 100);
    const sink = recorder();
    mailbox.submit(sink, 1, 'work', ['a']);
    await tick();
    // Admitted while `a` runs, in two separate ticks: two batches behind it.
    mailbox.submit(sink, 2, 'now', ['b']);
    mailbox.submit(sink, 3, 'work', ['c']);
    await tick();
    mailbox.submit(sink, 4, 'now', ['d']);
    expect(mailbox.running).toBe(1);
    expect(mailbox.queued).toBe(3);
    await object.release();
    await object.release();
    await mailbox.idle();
    expect(object.started).toEqual(['a', 'b', 'c', 'd']);
    expect(sink.answers).toEqual([
      { id: 1, ok: true, result: 'a' },
      { id: 2, ok: true, result: 'b' },
      { id: 3, ok: true, result: 'c' },
      { id: 4, ok: true, result: 'd' },
    ]);
    expect(object.maxRunning).toBe(1);
    expect(mailbox.served).toBe(4);
    await mailbox.close(false);
  });

  it('a forced close answers the unstarted rest of the running batch and the queued one, running none', async () => {
    const object = new Gated();
    const mailbox = new Mailbox(object, 100);
    const sink = recorder();
    mailbox.submit(sink, 1, 'work', ['a']);
    await tick();
    // One batch [b, c, d] waits behind `a`; once it runs, `b` holds it and [c, d] wait in it.
    for (const [id, tag] of [
      [2, 'b'],
      [3, 'c'],
      [4, 'd'],
    ] as const)
      mailbox.submit(sink, id, 'work', [tag]);
    await object.release();
    expect(object.started).toEqual(['a', 'b']);
    mailbox.submit(sink, 5, 'work', ['e']); // a new batch, queued behind the running one
    expect(mailbox.queued).toBe(3);
    const closed = mailbox.close(true);
    await tick();
    expect(sink.answers.filter((a) => !a.ok)).toEqual([
      { id: 3, ok: false, code: 'ERR_SHUTDOWN_FORCED' },
      { id: 4, ok: false, code: 'ERR_SHUTDOWN_FORCED' },
      { id: 5, ok: false, code: 'ERR_SHUTDOWN_FORCED' },
    ]);
    await object.release(); // the running call still finishes and is answered
    await closed;
    await mailbox.idle();
    expect(object.started).toEqual(['a', 'b']);
    expect(sink.answers.filter((a) => a.ok)).toEqual([
      { id: 1, ok: true, result: 'a' },
      { id: 2, ok: true, result: 'b' },
    ]);
    expect(mailbox.queued).toBe(0);
  });

  it('an async call started while a batch lingers holds back the calls after it', async () => {
    const object = new Gated();
    const mailbox = new Mailbox(object, 100);
    const sink = recorder();
    mailbox.submit(sink, 1, 'now', ['first']);
    await Promise.resolve(); // answered; its batch lingers for a next call
    mailbox.submit(sink, 2, 'work', ['slow']);
    mailbox.submit(sink, 3, 'now', ['after']);
    await tick();
    mailbox.submit(sink, 4, 'now', ['later']);
    await tick();
    expect(object.started).toEqual(['first', 'slow']);
    expect([mailbox.running, mailbox.queued]).toEqual([1, 2]);
    await object.release();
    await mailbox.idle();
    expect(object.started).toEqual(['first', 'slow', 'after', 'later']);
    expect(sink.answers.map((a) => a.id)).toEqual([1, 2, 3, 4]);
    expect(object.maxRunning).toBe(1);
    await mailbox.close(false);
  });

  it('between calls of a steady caller nothing counts as running or queued, and closing ends at once', async () => {
    const object = new Gated();
    const mailbox = new Mailbox(object, 100);
    const sink = recorder();
    for (let id = 1; id <= 5; id++) {
      mailbox.submit(sink, id, 'now', [`t${id}`]);
      await Promise.resolve();
      expect(sink.answers).toHaveLength(id);
      expect([mailbox.running, mailbox.queued]).toEqual([0, 0]);
    }
    // The batch may be lingering for a next call: a graceful close does not wait for that.
    let closed = false;
    const closing = mailbox.close(false).then(() => (closed = true));
    await tick();
    expect(closed).toBe(true);
    await closing;
    mailbox.submit(sink, 6, 'now', ['late']);
    expect(sink.answers.at(-1)).toEqual({ id: 6, ok: false, code: 'ERR_DAEMON_DRAINING' });
    expect(object.started).toEqual(['t1', 't2', 't3', 't4', 't5']);
  });

  it("awaits a returned thenable; a throwing `then` getter is the method's error", async () => {
    const object = {
      // biome-ignore lint/suspicious/noThenProperty: a method that returns a thenable, which the mailbox must await.
      thenable: () => ({ then: (resolve: (value: number) => void) => setTimeout(() => resolve(42), 5) }),
      hostile: () => ({
        // biome-ignore lint/suspicious/noThenProperty: a thenable whose `then` getter throws, on purpose.
        get then(): never {
          throw new Error('no then for you');
        },
      }),
    };
    const mailbox = new Mailbox(object, 100);
    const sink = recorder();
    mailbox.submit(sink, 1, 'thenable', []);
    mailbox.submit(sink, 2, 'hostile', []);
    await mailbox.idle();
    expect(sink.answers).toEqual([
      { id: 1, ok: true, result: 42 },
      { id: 2, ok: false, code: 'ERR_REMOTE' },
    ]);
    await mailbox.close(false);
  });
});
