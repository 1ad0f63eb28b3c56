/**
 * The stream messages (docs/PROTOCOL.md §4a) and the client's credit bookkeeping
 * (src/client/stream.ts), with a fake link in place of a connection.
 */
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { RemoteStream, STREAM_WINDOW, type StreamLink } from '../../src/client/stream.js';
import { parseClientMessage, parseDaemonMessage } from '../../src/wire/parse.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return (error as ProtocolError).code;
  }
  return undefined;
}

/** A link that records what the stream sent. */
function fakeLink() {
  const sent = { credit: 0, stops: 0, waiting: 0 };
  const link: StreamLink = {
    credit: (_id, n) => {
      sent.credit += n;
    },
    stop: () => {
      sent.stops++;
    },
    waiting: (delta) => {
      sent.waiting += delta;
    },
  };
  return { link, sent };
}

describe('stream messages', () => {
  it('parses credit, stop, item, end and a stream reply', () => {
    expect(parseClientMessage({ t: 'credit', id: 3, n: 32 })).toEqual({ t: 'credit', id: 3, n: 32 });
    expect(parseClientMessage({ t: 'stop', id: 3 })).toEqual({ t: 'stop', id: 3 });
    expect(parseDaemonMessage({ t: 'item', id: 3, v: { a: 1 } })).toEqual({ t: 'item', id: 3, v: { a: 1 } });
    expect(parseDaemonMessage({ t: 'end', id: 3 })).toEqual({ t: 'end', id: 3 });
    expect(parseDaemonMessage({ t: 'reply', id: 3, r: null, stream: true })).toMatchObject({ stream: true });
  });

  it('refuses a malformed one with ERR_PROTOCOL', () => {
    for (const bad of [{ t: 'credit', id: 1 }, { t: 'credit', id: 1, n: 0 }, { t: 'credit', id: 1, n: 1.5 }, { t: 'credit', id: -1, n: 1 }, { t: 'stop' }]) {
      expect(
        codeOf(() => parseClientMessage(bad)),
        JSON.stringify(bad),
      ).toBe('ERR_PROTOCOL');
    }
    for (const bad of [
      { t: 'item', v: 1 },
      { t: 'end', id: 'x' },
    ]) {
      expect(
        codeOf(() => parseDaemonMessage(bad)),
        JSON.stringify(bad),
      ).toBe('ERR_PROTOCOL');
    }
  });
});

describe('RemoteStream', () => {
  it('grants a window on the first next(), then tops it up by half windows, never more than a window ahead', async () => {
    const { link, sent } = fakeLink();
    const stream = new RemoteStream<number>(1, link);
    expect(sent.credit).toBe(0);
    const first = stream.next();
    expect(sent.credit).toBe(STREAM_WINDOW);
    let produced = 0;
    // The daemon sends exactly what it was granted, as it must.
    const deliver = () => {
      while (produced < sent.credit) stream.push(produced++);
    };
    deliver();
    expect(await first).toEqual({ done: false, value: 0 });
    for (let i = 1; i < 1000; i++) {
      expect(await stream.next()).toEqual({ done: false, value: i });
      expect(produced - i - 1).toBeLessThanOrEqual(STREAM_WINDOW);
      deliver();
    }
    expect(sent.credit - 1000).toBeLessThanOrEqual(STREAM_WINDOW);
  });

  it('delivers buffered items before the end, then done; an error once, then done', async () => {
    const { link } = fakeLink();
    const ended = new RemoteStream<number>(1, link);
    void ended.next().then(() => {});
    ended.push(1);
    ended.push(2);
    ended.end();
    expect(await ended.next()).toEqual({ done: false, value: 2 });
    expect(await ended.next()).toEqual({ done: true, value: undefined });

    const failed = new RemoteStream<number>(2, link);
    const waiting = failed.next();
    failed.end(new Error('boom'));
    await expect(waiting).rejects.toThrow('boom');
    expect(await failed.next()).toEqual({ done: true, value: undefined });
  });

  it('return() and disposal send one stop and end waiting consumers; the link is released', async () => {
    const { link, sent } = fakeLink();
    const stream = new RemoteStream<number>(1, link);
    const waiting = stream.next();
    expect(sent.waiting).toBe(1);
    await stream.return();
    await stream[Symbol.asyncDispose]();
    expect(await waiting).toEqual({ done: true, value: undefined });
    expect(sent).toMatchObject({ stops: 1, waiting: 0 });
    stream.push(5);
    expect(await stream.next()).toEqual({ done: true, value: undefined });
  });

  it('an abort of the call’s signal stops the stream and rejects the consumer with its reason', async () => {
    const { link, sent } = fakeLink();
    const controller = new AbortController();
    const stream = new RemoteStream<number>(1, link, controller.signal);
    const waiting = stream.next();
    controller.abort(new Error('enough'));
    await expect(waiting).rejects.toThrow('enough');
    expect(sent.stops).toBe(1);
  });
});
