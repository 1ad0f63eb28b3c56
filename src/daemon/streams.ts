/**
 * A connection's streams (docs/PROTOCOL.md §4a): the calls whose method returned an async
 * iterable, each a {@link DaemonStream} (./stream.ts, which says how a stream keeps the
 * one-at-a-time rule and is pulled by credit), by call id.
 */
import { remoteErrorToWire } from '../errors.js';
import type { Mailbox } from './mailbox.js';
import { DaemonStream, type StreamOwner } from './stream.js';

/** True when `value` is what a stream is made of: an object with `Symbol.asyncIterator`. */
export function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}

/** The open streams of one connection. */
export class Streams {
  readonly #owner: StreamOwner;
  readonly #mailbox: Mailbox;
  readonly #open = new Map<number, DaemonStream>();

  constructor(owner: StreamOwner, mailbox: Mailbox) {
    this.#owner = owner;
    this.#mailbox = mailbox;
  }

  /** Call `id` returned `iterable`: tells the client, and waits for its credit. */
  open(id: number, iterable: AsyncIterable<unknown>): void {
    let iterator: AsyncIterator<unknown>;
    try {
      // Obtaining the iterator is the hosted object's code too, but the call's turn is not over
      // yet: the mailbox is answering it.
      iterator = iterable[Symbol.asyncIterator]();
    } catch (error) {
      this.#owner.replyError(id, remoteErrorToWire(error));
      return;
    }
    this.#open.get(id)?.stop(true);
    const stream = new DaemonStream(id, iterator, this.#owner, this.#mailbox, () => {
      if (this.#open.get(id) === stream) this.#open.delete(id);
    });
    this.#open.set(id, stream);
    this.#owner.channel.send({ t: 'reply', id, r: null, stream: true });
  }

  /** The client granted `n` items of stream `id` (ignored for a stream that is over). */
  credit(id: number, n: number): void {
    this.#open.get(id)?.credit(n);
  }

  /** The client stopped stream `id`. */
  stop(id: number): void {
    this.#open.get(id)?.stop(true);
  }

  /** The connection is gone: every stream's iterator ends. */
  closeAll(): void {
    for (const stream of [...this.#open.values()]) stream.stop(true);
  }
}
