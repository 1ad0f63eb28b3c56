/**
 * The daemon's streams in-process (src/daemon/streams.ts), on a real mailbox with a fake
 * channel: credit bounds what the iterator runs ahead; each step is a turn of the mailbox, so
 * a call that arrives during a step runs before the next one; a step that waits through
 * `awaitOutside()` leaves the mailbox to other calls and comes back in line before its code
 * goes on; a stop ends the iterator in a turn.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Channel } from '../../src/daemon/channel.js';
import { Mailbox, type CallSink } from '../../src/daemon/mailbox.js';
import { awaitOutside } from '../../src/daemon/outside.js';
import { Streams } from '../../src/daemon/streams.js';
import type { WireError } from '../../src/errors.js';
import { decodeValue, HEADER_BYTES } from '../../src/wire/codec.js';

/** Resolves after pending callbacks have run (a few rounds of the event loop). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A connection's worth of streams over a fake channel that records what was sent. */
function harness(object: object) {
  const mailbox = new Mailbox(object, 100);
  const sent: Array<{ t: string; id: number | null; v?: unknown; e?: WireError }> = [];
  const socket = new EventEmitter() as EventEmitter & { writableNeedDrain: boolean };
  socket.writableNeedDrain = false;
  const channel = {
    socket,
    isClosed: false,
    maxFrameBytes: 1 << 20,
    writer: { write: (frame: Buffer) => sent.push(decodeValue(frame.subarray(HEADER_BYTES)) as (typeof sent)[number]) },
    send: (message: (typeof sent)[number]) => sent.push(message),
  } as unknown as Channel;
  const owner = { channel, replyError: (id: number, e: WireError) => sent.push({ t: 'error', id, e }) };
  const streams = new Streams(owner, mailbox);
  const sink: CallSink = {
    replyOk: (id, result) =>
      result !== null && typeof result === 'object' && Symbol.asyncIterator in result
        ? streams.open(id, result as AsyncIterable<unknown>)
        : sent.push({ t: 'reply', id, v: result }),
    replyError: (id, e) => sent.push({ t: 'error', id, e }),
  };
  const call = (id: number, name: string, ...args: unknown[]) => mailbox.submit(sink, id, name, args);
  const items = (id: number) => sent.filter((m) => m.t === 'item' && m.id === id).map((m) => m.v);
  return { mailbox, streams, sent, call, items, socket };
}

describe('daemon streams', () => {
  it('runs the iterator only as far as the credit granted', async () => {
    const object = {
      pulled: 0,
      async *numbers() {
        for (let i = 0; ; i++) {
          object.pulled++;
          yield i;
        }
      },
    };
    const { streams, call, items, sent } = harness(object);
    call(1, 'numbers');
    await settle();
    expect(sent).toEqual([{ t: 'reply', id: 1, r: null, stream: true }]);
    expect(object.pulled).toBe(0);
    streams.credit(1, 3);
    await settle();
    expect(items(1)).toEqual([0, 1, 2]);
    expect(object.pulled).toBe(3);
    streams.credit(1, 2);
    await settle();
    expect(items(1)).toEqual([0, 1, 2, 3, 4]);
    expect(object.pulled).toBe(5);
  });

  it('waits for a full socket to drain before the next step, whatever the credit', async () => {
    const object = {
      async *numbers() {
        for (let i = 0; ; i++) yield i;
      },
    };
    const { streams, call, items, socket } = harness(object);
    call(1, 'numbers');
    socket.writableNeedDrain = true;
    streams.credit(1, 1000);
    await settle();
    expect(items(1)).toEqual([]);
    socket.writableNeedDrain = false;
    socket.emit('drain');
    await settle();
    expect(items(1)).toHaveLength(1000);
  });

  it('a call that arrives during a step runs before the next step, never beside one', async () => {
    const gates: Array<() => void> = [];
    const log: string[] = [];
    const object = {
      async *steps() {
        for (let i = 0; i < 3; i++) {
          log.push(`step ${i} begins`);
          await new Promise<void>((resolve) => gates.push(resolve));
          log.push(`step ${i} ends`);
          yield i;
        }
      },
      now(tag: string) {
        log.push(tag);
        return tag;
      },
    };
    const { streams, call, items } = harness(object);
    call(1, 'steps');
    streams.credit(1, 10);
    await settle();
    expect(log).toEqual(['step 0 begins']);
    call(2, 'now', 'call');
    await settle();
    // The step holds the mailbox: the call waits for it.
    expect(log).toEqual(['step 0 begins']);
    gates.shift()!();
    await settle();
    expect(log).toEqual(['step 0 begins', 'step 0 ends', 'call', 'step 1 begins']);
    gates.shift()!();
    await settle();
    gates.shift()!();
    await settle();
    expect(items(1)).toEqual([0, 1, 2]);
  });

  it('a step in awaitOutside() leaves the mailbox to calls, and goes on only in a turn of its own', async () => {
    const outside = deferred<string>();
    const callGate = deferred();
    const log: string[] = [];
    const object = {
      async *waits() {
        log.push('before');
        const value = await awaitOutside(outside.promise);
        log.push(`after ${value}`);
        yield value;
      },
      async slow() {
        log.push('slow begins');
        await callGate.promise;
        log.push('slow ends');
      },
    };
    const { streams, call, items } = harness(object);
    call(1, 'waits');
    streams.credit(1, 1);
    await settle();
    call(2, 'slow');
    await settle();
    // The step waits outside: the call ran at once.
    expect(log).toEqual(['before', 'slow begins']);
    outside.resolve('event');
    await settle();
    // The event came while the call holds the mailbox: the step's code waits for its turn.
    expect(log).toEqual(['before', 'slow begins']);
    callGate.resolve();
    await settle();
    expect(log).toEqual(['before', 'slow begins', 'slow ends', 'after event']);
    expect(items(1)).toEqual(['event']);
  });

  it('a stop ends the iterator in a turn: its finally runs, before a call that came after the stop', async () => {
    const log: string[] = [];
    const object = {
      async *numbers() {
        try {
          for (let i = 0; ; i++) yield i;
        } finally {
          log.push('finally');
        }
      },
      now() {
        log.push('call');
      },
    };
    const { streams, call, items, sent } = harness(object);
    call(1, 'numbers');
    streams.credit(1, 2);
    await settle();
    expect(items(1)).toEqual([0, 1]);
    streams.stop(1);
    call(2, 'now');
    await settle();
    expect(log).toEqual(['finally', 'call']);
    // A stopped stream sends nothing more, and more credit wakes nothing.
    streams.credit(1, 5);
    await settle();
    expect(sent.filter((m) => m.id === 1).map((m) => m.t)).toEqual(['reply', 'item', 'item']);
  });

  it('a stop wakes a step waiting outside with an AbortError; its finally runs', async () => {
    const log: string[] = [];
    const object = {
      async *waits() {
        try {
          await awaitOutside(new Promise(() => {}));
          yield 'never';
        } catch (error) {
          log.push((error as Error).name);
          throw error;
        } finally {
          log.push('finally');
        }
      },
    };
    const { streams, call } = harness(object);
    call(1, 'waits');
    streams.credit(1, 1);
    await settle();
    streams.stop(1);
    await settle();
    expect(log).toEqual(['AbortError', 'finally']);
  });

  it('a graceful close waits for a step parked outside: it is woken, and its finally runs in the drain', async () => {
    const log: string[] = [];
    const object = {
      async *waits() {
        try {
          await awaitOutside(new Promise(() => {}));
          yield 'never';
        } finally {
          log.push('finally');
        }
      },
    };
    const { mailbox, streams, call, sent } = harness(object);
    call(1, 'waits');
    streams.credit(1, 1);
    await settle();
    await mailbox.close(false);
    expect(log).toEqual(['finally']);
    expect(sent.at(-1)).toMatchObject({ t: 'error', id: 1, e: { code: 'ERR_DAEMON_DRAINING' } });
  });

  it('closing the mailbox ends open streams with ERR_DAEMON_DRAINING and runs their finally', async () => {
    const log: string[] = [];
    const object = {
      async *numbers() {
        try {
          for (let i = 0; ; i++) yield i;
        } finally {
          log.push('finally');
        }
      },
    };
    const { mailbox, streams, call, sent } = harness(object);
    call(1, 'numbers');
    streams.credit(1, 1);
    await settle();
    await mailbox.close(false);
    expect(log).toEqual(['finally']);
    expect(sent.at(-1)).toMatchObject({ t: 'error', id: 1, e: { code: 'ERR_DAEMON_DRAINING' } });
  });
});
