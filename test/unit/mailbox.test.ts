/**
 * The mailbox in-process, with a recording sink: every admitted call runs one at a time, in
 * arrival order, each to completion (an async method's promise included) before the next
 * starts; admission answers with its error codes; a graceful close answers every admitted call
 * and a forced one answers the waiting calls without running them. And the one shortcut: a call
 * on an idle mailbox runs at once, inside `submit`, with no queue task.
 */
import { describe, expect, it } from 'vitest';
import type { CallSink } from '../../src/daemon/mailbox.js';
import { Mailbox } from '../../src/daemon/mailbox.js';
import type { WireError } from '../../src/errors.js';

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
  fail(tag: string): never {
    this.started.push(tag);
    throw new TypeError(tag);
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
    // Admitted while `a` runs, in two separate ticks: they wait behind it, in order.
    mailbox.submit(sink, 2, 'now', ['b']);
    mailbox.submit(sink, 3, 'work', ['c']);
    await tick();
    mailbox.submit(sink, 4, 'now', ['d']);
    expect([mailbox.running, mailbox.queued, mailbox.runningMethod]).toEqual([1, 3, 'work']);
    expect(object.started).toEqual(['a']);
    await object.release();
    expect(object.started).toEqual(['a', 'b', 'c']);
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
    expect([mailbox.served, mailbox.running, mailbox.runningMethod]).toEqual([4, 0, undefined]);
    await mailbox.close(false);
  });

  it('async read-await-write calls from many callers, mixed with sync ones, never interleave and lose no update', async () => {
    const object = {
      value: 0,
      log: [] as string[],
      async add(tag: string): Promise<number> {
        object.log.push(`start ${tag}`);
        const read = object.value;
        // Two hops: a call that started meanwhile would read the same value and lose an update.
        await new Promise((resolve) => setImmediate(resolve));
        await Promise.resolve();
        object.value = read + 1;
        object.log.push(`end ${tag}`);
        return object.value;
      },
      peek(tag: string): number {
        object.log.push(`peek ${tag}`);
        return object.value;
      },
    };
    const mailbox = new Mailbox(object, 1000);
    const sinks = Array.from({ length: 5 }, recorder);
    const order: string[] = [];
    let id = 0;
    // Five callers, ten calls each, admitted in bursts across several ticks.
    for (let round = 0; round < 10; round++) {
      for (const [caller, sink] of sinks.entries()) {
        const tag = `${caller}.${round}`;
        order.push(tag);
        mailbox.submit(sink, ++id, round % 3 === 2 ? 'peek' : 'add', [tag]);
      }
      if (round % 2 === 1) await tick();
    }
    await mailbox.idle();
    const adds = order.filter((_, i) => Math.floor(i / 5) % 3 !== 2).length;
    expect(object.value).toBe(adds);
    // Each call ends before the next starts, and they start in arrival order.
    const expected = order.flatMap((tag) => (Number(tag.split('.')[1]) % 3 === 2 ? [`peek ${tag}`] : [`start ${tag}`, `end ${tag}`]));
    expect(object.log).toEqual(expected);
    // Every call was answered, each on its own caller's sink.
    for (const sink of sinks) expect(sink.answers.filter((a) => a.ok)).toHaveLength(10);
    expect(mailbox.served).toBe(50);
    await mailbox.close(false);
  });

  it('the shortcut: a synchronous call on an idle mailbox is answered before submit returns; an async one holds back every later call', async () => {
    const object = new Gated();
    const mailbox = new Mailbox(object, 100);
    const sink = recorder();
    // Idle: the call runs inside submit, no queue task, no microtask hop; so does its throw.
    mailbox.submit(sink, 1, 'now', ['first']);
    expect(sink.answers).toEqual([{ id: 1, ok: true, result: 'first' }]);
    mailbox.submit(sink, 2, 'fail', ['boom']);
    expect(sink.answers.at(-1)).toEqual({ id: 2, ok: false, code: 'ERR_REMOTE' });
    // Idle again: an async call starts at once and takes the queue's slot before submit returns,
    // so a synchronous call right behind it, in the same tick, waits.
    mailbox.submit(sink, 3, 'work', ['slow']);
    mailbox.submit(sink, 4, 'now', ['after']);
    expect(object.started).toEqual(['first', 'boom', 'slow']);
    expect([mailbox.running, mailbox.queued]).toEqual([1, 1]);
    await tick();
    mailbox.submit(sink, 5, 'now', ['later']);
    expect(object.started).toEqual(['first', 'boom', 'slow']);
    await object.release();
    await mailbox.idle();
    expect(object.started).toEqual(['first', 'boom', 'slow', 'after', 'later']);
    expect(sink.answers.map((a) => a.id)).toEqual([1, 2, 3, 4, 5]);
    expect(object.maxRunning).toBe(1);
    // Idle once more: synchronous again.
    mailbox.submit(sink, 6, 'now', ['again']);
    expect(sink.answers.at(-1)).toEqual({ id: 6, ok: true, result: 'again' });
    await mailbox.close(false);
  });

  it('admission: ERR_METHOD_NOT_ALLOWED for a non-method, ERR_MAILBOX_FULL once maxQueuedCalls wait; neither runs', async () => {
    const object = new Gated();
    const mailbox = new Mailbox(object, 2);
    const sink = recorder();
    mailbox.submit(sink, 1, '_private', []);
    mailbox.submit(sink, 2, 'started', []);
    // The running call does not count against maxQueuedCalls; the two behind it fill it.
    mailbox.submit(sink, 3, 'work', ['running']);
    mailbox.submit(sink, 4, 'work', ['w1']);
    mailbox.submit(sink, 5, 'now', ['w2']);
    mailbox.submit(sink, 6, 'now', ['refused']);
    expect(sink.answers).toEqual([
      { id: 1, ok: false, code: 'ERR_METHOD_NOT_ALLOWED' },
      { id: 2, ok: false, code: 'ERR_METHOD_NOT_ALLOWED' },
      { id: 6, ok: false, code: 'ERR_MAILBOX_FULL' },
    ]);
    expect([mailbox.running, mailbox.queued]).toEqual([1, 2]);
    // Room again once the first waiting call has started.
    await object.release();
    expect([mailbox.running, mailbox.queued, mailbox.runningMethod]).toEqual([1, 1, 'work']);
    mailbox.submit(sink, 7, 'now', ['w3']);
    await object.release();
    await mailbox.idle();
    expect(object.started).toEqual(['running', 'w1', 'w2', 'w3']);
    expect(sink.answers.filter((a) => a.ok).map((a) => a.id)).toEqual([3, 4, 5, 7]);
    await mailbox.close(false);
  });

  it('a graceful close refuses new calls with ERR_DAEMON_DRAINING and resolves once every admitted call was answered', async () => {
    const object = new Gated();
    const mailbox = new Mailbox(object, 100);
    const sink = recorder();
    mailbox.submit(sink, 1, 'work', ['a']);
    mailbox.submit(sink, 2, 'work', ['b']);
    mailbox.submit(sink, 3, 'now', ['c']);
    let closed = false;
    const closing = mailbox.close(false).then(() => (closed = true));
    mailbox.submit(sink, 4, 'now', ['late']);
    mailbox.submit(sink, 5, '_private', []);
    expect(sink.answers).toEqual([
      { id: 4, ok: false, code: 'ERR_DAEMON_DRAINING' },
      { id: 5, ok: false, code: 'ERR_DAEMON_DRAINING' },
    ]);
    await object.release();
    await tick();
    expect(closed).toBe(false);
    expect(mailbox.runningMethod).toBe('work');
    await object.release();
    await closing;
    expect(object.started).toEqual(['a', 'b', 'c']);
    expect(sink.answers.filter((a) => a.ok).map((a) => a.id)).toEqual([1, 2, 3]);
    mailbox.submit(sink, 6, 'now', ['after']);
    expect(sink.answers.at(-1)).toEqual({ id: 6, ok: false, code: 'ERR_DAEMON_DRAINING' });
    expect(object.started).toEqual(['a', 'b', 'c']);
  });

  it('a forced close answers every waiting call with ERR_SHUTDOWN_FORCED at once, running none; the running one is still answered', async () => {
    const object = new Gated();
    const mailbox = new Mailbox(object, 100);
    const sink = recorder();
    mailbox.submit(sink, 1, 'work', ['a']);
    await tick();
    for (const [id, tag] of [
      [2, 'b'],
      [3, 'c'],
      [4, 'd'],
    ] as const)
      mailbox.submit(sink, id, 'work', [tag]);
    await object.release();
    expect(object.started).toEqual(['a', 'b']);
    mailbox.submit(sink, 5, 'now', ['e']);
    expect(mailbox.queued).toBe(3);
    const closed = mailbox.close(true);
    // Answered during close(), while `b` still runs.
    expect(sink.answers.filter((a) => !a.ok)).toEqual([
      { id: 3, ok: false, code: 'ERR_SHUTDOWN_FORCED' },
      { id: 4, ok: false, code: 'ERR_SHUTDOWN_FORCED' },
      { id: 5, ok: false, code: 'ERR_SHUTDOWN_FORCED' },
    ]);
    await closed;
    expect([mailbox.running, mailbox.queued, mailbox.runningMethod]).toEqual([1, 0, 'work']);
    await object.release();
    await mailbox.idle();
    expect(object.started).toEqual(['a', 'b']);
    expect(sink.answers.filter((a) => a.ok)).toEqual([
      { id: 1, ok: true, result: 'a' },
      { id: 2, ok: true, result: 'b' },
    ]);
    expect(sink.answers).toHaveLength(5);
  });

  it('a forced close after a graceful one answers the calls still waiting', async () => {
    const object = new Gated();
    const mailbox = new Mailbox(object, 100);
    const sink = recorder();
    mailbox.submit(sink, 1, 'work', ['a']);
    mailbox.submit(sink, 2, 'now', ['b']);
    const graceful = mailbox.close(false);
    await tick();
    expect(sink.answers).toEqual([]);
    const forced = mailbox.close(true);
    expect(sink.answers).toEqual([{ id: 2, ok: false, code: 'ERR_SHUTDOWN_FORCED' }]);
    await Promise.all([graceful, forced]);
    await object.release();
    await mailbox.idle();
    expect(object.started).toEqual(['a']);
    expect(sink.answers.at(-1)).toEqual({ id: 1, ok: true, result: 'a' });
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
    let closed = false;
    const closing = mailbox.close(false).then(() => (closed = true));
    await tick();
    expect(closed).toBe(true);
    await closing;
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
      rejects: async () => {
        throw new RangeError('nope');
      },
    };
    const mailbox = new Mailbox(object, 100);
    const sink = recorder();
    mailbox.submit(sink, 1, 'thenable', []);
    mailbox.submit(sink, 2, 'hostile', []);
    mailbox.submit(sink, 3, 'rejects', []);
    await mailbox.idle();
    expect(sink.answers).toEqual([
      { id: 1, ok: true, result: 42 },
      { id: 2, ok: false, code: 'ERR_REMOTE' },
      { id: 3, ok: false, code: 'ERR_REMOTE' },
    ]);
    expect(mailbox.served).toBe(3);
    await mailbox.close(false);
  });

  it('withdraws a waiting call its caller cancels: answered ERR_CALL_CANCELLED, never run, its turn skipped', async () => {
    const object = new Gated();
    const mailbox = new Mailbox(object, 100);
    const sink = recorder();
    mailbox.submit(sink, 1, 'work', ['a']);
    mailbox.submit(sink, 2, 'now', ['b']);
    mailbox.submit(sink, 3, 'now', ['c']);
    mailbox.cancel(sink, 2);
    // Unknown ids, and a right id from another connection, are ignored.
    mailbox.cancel(sink, 99);
    mailbox.cancel(recorder(), 3);
    expect([mailbox.queued, mailbox.withdrawn]).toEqual([1, 1]);
    expect(sink.answers).toEqual([{ id: 2, ok: false, code: 'ERR_CALL_CANCELLED' }]);
    await object.release();
    await mailbox.idle();
    expect(object.started).toEqual(['a', 'c']);
    expect(sink.answers.map(({ id }) => id)).toEqual([2, 1, 3]);
    expect(mailbox.served).toBe(2);
    await mailbox.close(false);
  });

  it("aborts the running call's signal on cancel; the method still answers", async () => {
    const { callSignal } = await import('../../src/daemon/call-context.js');
    const seen: Array<[AbortSignal, unknown]> = [];
    const object = {
      wait: () => {
        const signal = callSignal();
        return new Promise((resolve) => signal.addEventListener('abort', () => resolve((signal.reason as { code: string }).code)));
      },
      peek: () => {
        const signal = callSignal();
        seen.push([signal, signal.aborted]);
        return signal === callSignal();
      },
    };
    const mailbox = new Mailbox(object, 100);
    const sink = recorder();
    mailbox.submit(sink, 1, 'wait', []);
    mailbox.cancel(sink, 1);
    await mailbox.idle();
    mailbox.submit(sink, 2, 'peek', []);
    expect(sink.answers).toEqual([
      { id: 1, ok: true, result: 'ERR_CALL_CANCELLED' },
      { id: 2, ok: true, result: true },
    ]);
    expect(seen[0]![1]).toBe(false);
    // Outside a call: a signal that never aborts.
    expect(callSignal().aborted).toBe(false);
    expect(mailbox.withdrawn).toBe(0);
    await mailbox.close(false);
  });

  it('does not run a call whose deadline has passed, whether the mailbox is idle or it waited', async () => {
    const object = new Gated();
    const mailbox = new Mailbox(object, 100);
    const sink = recorder();
    mailbox.submit(sink, 1, 'now', ['past'], Date.now() - 1);
    mailbox.submit(sink, 2, 'work', ['a']);
    const deadline = Date.now() + 1;
    mailbox.submit(sink, 3, 'now', ['late'], deadline);
    mailbox.submit(sink, 4, 'now', ['in time'], Date.now() + 60_000);
    while (Date.now() <= deadline) await tick();
    await object.release();
    await mailbox.idle();
    expect(object.started).toEqual(['a', 'in time']);
    expect(sink.answers).toEqual([
      { id: 1, ok: false, code: 'ERR_CALL_TIMEOUT' },
      { id: 2, ok: true, result: 'a' },
      { id: 3, ok: false, code: 'ERR_CALL_TIMEOUT' },
      { id: 4, ok: true, result: 'in time' },
    ]);
    expect([mailbox.withdrawn, mailbox.served]).toEqual([2, 2]);
    await mailbox.close(false);
  });
});
