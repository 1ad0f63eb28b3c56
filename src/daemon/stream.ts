/**
 * Streams, daemon side: a method that returns an async iterable (an `async *` method, or any
 * object with `Symbol.asyncIterator`) makes its call a stream (docs/PROTOCOL.md §4a). One
 * {@link Streams} per connection holds that connection's open streams.
 *
 * How a stream keeps the one-at-a-time rule: each step of its iterator (`next()`, and the
 * final `return()`) is a turn of the mailbox ({@link Mailbox.enter}), in the same line as the
 * calls, and the turn lasts until the step settles, as an async method's does. So a step never
 * overlaps a call or another stream's step, and calls from every client run between steps. A
 * step that waits for something outside the object says so with `awaitOutside()`
 * (./outside.ts): its turn ends there and it enters the mailbox again before its code goes on.
 *
 * Backpressure is credit: a step is entered only while the client has granted credit for an
 * item, so the daemon holds at most one item per stream that the client has not asked for.
 */
import { remoteErrorToWire, ProtocolError, type WireError } from '../errors.js';
import { encodeFrame } from '../wire/codec.js';
import { prepareValue } from '../wire/values.js';
import type { Channel } from './channel.js';
import type { CallSink, Mailbox } from './mailbox.js';
import { inStep, type StepScope } from './outside.js';

/** What a stream needs from its connection. */
export interface StreamOwner {
  readonly channel: Channel;
  /** Answers `id` with an error (cut down if it is too large), as for a call. */
  replyError(id: number, error: WireError): void;
}

function abortError(): Error {
  return new DOMException('The stream was stopped while this step waited outside the mailbox', 'AbortError');
}

/** One open stream: call `id`'s iterator. */
export class DaemonStream implements CallSink, StepScope {
  readonly #id: number;
  readonly #owner: StreamOwner;
  readonly #mailbox: Mailbox;
  readonly #iterator: AsyncIterator<unknown>;
  readonly #forget: () => void;
  readonly #name: string;
  /** Items the client has asked for and not been sent. */
  #credit = 0;
  /** A step is entered, running, or waiting outside: at most one at a time. */
  #busy = false;
  /** The iterator must end: the client stopped, the connection closed, or the daemon drains. */
  #stopping = false;
  /** Nothing more is sent: the client stopped or the connection is gone. */
  #silent = false;
  #finished = false;
  /** Ends the turn the current step holds; undefined while it holds none. */
  #endTurn: (() => void) | undefined;
  /** A 'drain' listener is set: the socket's buffer was full. */
  #awaitingDrain = false;
  /** While the step waits outside: wakes it with an AbortError. */
  #wake: (() => void) | undefined;
  readonly #removeClosing: () => void;

  constructor(id: number, iterator: AsyncIterator<unknown>, owner: StreamOwner, mailbox: Mailbox, forget: () => void) {
    this.#id = id;
    this.#iterator = iterator;
    this.#owner = owner;
    this.#mailbox = mailbox;
    this.#forget = forget;
    this.#name = `stream ${id} (step)`;
    this.#removeClosing = mailbox.onClosing(() => {
      this.#fail({ code: 'ERR_DAEMON_DRAINING', name: 'DaemonConnectionError', message: 'The daemon is shutting down; the stream was ended' });
      this.stop(false);
    });
  }

  /** The client asked for `n` more items. */
  credit(n: number): void {
    this.#credit += n;
    this.#pump();
  }

  /** Ends the iterator (its `finally` runs, as a turn); `silent`: the client is not told. */
  stop(silent: boolean): void {
    if (silent) this.#silent = true;
    if (this.#finished || this.#stopping) return;
    this.#stopping = true;
    // A step in progress ends the iterator itself when it settles; one waiting outside is woken.
    if (this.#busy) {
      this.#wake?.();
      return;
    }
    this.#busy = true;
    this.#mailbox.enter(this, this.#name, () => this.#cleanupTurn(), true);
  }

  // CallSink: how the mailbox answers this stream's turns. Only refusals matter (a drain, a
  // forced close): the stream is over, and its iterator is not touched again.
  replyOk(): void {}

  replyError(_id: number, error: WireError): void {
    this.#fail(error);
    this.#finish();
  }

  /** StepScope: the step waits for `promise` without holding the mailbox (./outside.ts). */
  async outside<T>(promise: PromiseLike<T> | T): Promise<T> {
    if (this.#endTurn === undefined) return promise;
    this.#release();
    const outcome = await new Promise<{ ok: true; value: T } | { ok: false; error: unknown }>((resolve) => {
      let back = false;
      // Back into the line before the step's code goes on, with what the wait gave. A stop
      // enters at once (a drain then waits for the step to finish). A forced close refuses the
      // turn: the step never resumes, and the process is about to end.
      const comeBack = (result: { ok: true; value: T } | { ok: false; error: unknown }) => {
        if (back) return;
        back = true;
        this.#wake = undefined;
        const resume = () => {
          resolve(result);
          return this.#hold();
        };
        this.#mailbox.enter(this, this.#name, resume, true);
      };
      this.#wake = () => comeBack({ ok: false, error: abortError() });
      Promise.resolve(promise).then(
        (value) => comeBack({ ok: true, value }),
        (error: unknown) => comeBack({ ok: false, error }),
      );
      if (this.#stopping) this.#wake();
    });
    if (outcome.ok) return outcome.value;
    throw outcome.error;
  }

  #pump(): void {
    if (this.#finished || this.#busy || this.#stopping || this.#credit <= 0) return;
    // A peer that grants credit and does not read would have the items pile up in the socket's
    // buffer: the next step waits until the socket has drained.
    const { socket } = this.#owner.channel;
    if (socket.writableNeedDrain) {
      if (!this.#awaitingDrain) {
        this.#awaitingDrain = true;
        socket.once('drain', () => {
          this.#awaitingDrain = false;
          this.#pump();
        });
      }
      return;
    }
    this.#busy = true;
    this.#mailbox.enter(this, this.#name, () => this.#stepTurn(), false);
  }

  /** A new turn: its promise settles when {@link #release} is called. */
  #hold(): Promise<void> {
    return new Promise((resolve) => {
      this.#endTurn = resolve;
    });
  }

  #release(): void {
    const end = this.#endTurn;
    this.#endTurn = undefined;
    end?.();
  }

  /** The turn of one `next()` (or more: {@link #stepped}). Never throws. */
  #stepTurn(): Promise<void> {
    if (this.#stopping) return this.#cleanupTurn();
    const turn = this.#hold();
    this.#step();
    return turn;
  }

  /** Calls `next()` inside the turn held now. */
  #step(): void {
    let step: Promise<IteratorResult<unknown>>;
    try {
      step = Promise.resolve(inStep(this, () => this.#iterator.next()));
    } catch (error) {
      step = Promise.reject(error);
    }
    step.then(
      (result) => this.#stepped(result),
      (error: unknown) => {
        this.#fail(remoteErrorToWire(error));
        this.#finish();
      },
    );
  }

  /** `next()` settled; the step still holds its turn. */
  #stepped(result: IteratorResult<unknown>): void {
    if (result.done === true) {
      if (!this.#silent && !this.#owner.channel.isClosed) this.#owner.channel.send({ t: 'end', id: this.#id });
      this.#finish();
      return;
    }
    if (this.#stopping || !this.#sendItem(result.value)) {
      // The item is not wanted (or could not be sent): the iterator ends in this same turn.
      this.#stopping = true;
      this.#returnIterator();
      return;
    }
    this.#credit--;
    // Nothing waits for the mailbox: the next step would be next anyway, so it runs in this
    // same turn, without a queue task of its own. Once anything waits, the turn ends here and
    // the next step queues behind it.
    if (this.#credit > 0 && this.#mailbox.queued === 0 && this.#endTurn !== undefined && !this.#owner.channel.socket.writableNeedDrain) {
      this.#step();
      return;
    }
    this.#busy = false;
    this.#release();
    this.#pump();
  }

  /** The turn that ends the iterator. */
  #cleanupTurn(): Promise<void> {
    const turn = this.#hold();
    this.#returnIterator();
    return turn;
  }

  /** Calls `return()` (the generator's `finally` runs) inside the turn held now; then finishes. */
  #returnIterator(): void {
    const done = () => this.#finish();
    try {
      const returned = this.#iterator.return === undefined ? undefined : inStep(this, () => this.#iterator.return!());
      Promise.resolve(returned).then(done, done);
    } catch {
      done();
    }
  }

  /** Sends one item; false (and the client got an error) when it cannot be sent. */
  #sendItem(value: unknown): boolean {
    const { channel } = this.#owner;
    if (this.#silent || channel.isClosed) return false;
    let frame: Buffer;
    try {
      frame = encodeFrame({ t: 'item', id: this.#id, v: prepareValue(value, 'item') }, channel.maxFrameBytes);
    } catch (error) {
      const unencodable = error instanceof ProtocolError && error.code === 'ERR_UNENCODABLE';
      this.#fail({
        code: unencodable ? 'ERR_UNENCODABLE' : 'ERR_REPLY_TOO_LARGE',
        name: 'ProtocolError',
        message: `The stream produced an item that ${unencodable ? 'cannot' : 'could not'} be sent: ${(error as Error).message}; the stream was ended`,
      });
      return false;
    }
    channel.writer.write(frame);
    return true;
  }

  /** Ends the stream for the client with `error`, once. */
  #fail(error: WireError): void {
    if (this.#silent || this.#finished) return;
    this.#silent = true;
    this.#owner.replyError(this.#id, error);
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#busy = false;
    this.#removeClosing();
    this.#forget();
    this.#release();
  }
}
