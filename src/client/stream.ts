/**
 * Streams, client side (docs/PROTOCOL.md §4a): what a call whose method returned an async
 * iterable resolves to, and the async iteration every proxy call's promise offers so that
 * `for await (const x of proxy.changes())` and `await using s = proxy.changes()` work.
 *
 * Credit: the consumer's first `next()` grants {@link STREAM_WINDOW} items; whenever the items
 * granted and not yet consumed fall to half of that, the grant is topped up. So the daemon
 * never runs more than a window ahead of the consumer, and this side buffers at most a window.
 */
import type { LoopbackSingletonError } from '../errors.js';

/** Items a stream's consumer lets the daemon produce ahead of it. */
export const STREAM_WINDOW = 32;

/** What a stream needs from its connection. */
export interface StreamLink {
  /** Grants `n` more items of stream `id`. */
  credit(id: number, n: number): void;
  /** Stops stream `id` on the daemon, and forgets it here. */
  stop(id: number): void;
  /** A consumer began (+1) or ended (-1) waiting: the connection keeps the process alive meanwhile. */
  waiting(delta: 1 | -1): void;
}

interface Waiter {
  resolve(result: IteratorResult<unknown>): void;
  reject(error: unknown): void;
}

const DONE: IteratorResult<never> = { done: true, value: undefined };

/**
 * The items of one remote async iterable, in order. Single use, like a generator: iterating
 * it twice continues where the first left off. `return()`, `[Symbol.asyncDispose]()`, a
 * `break` out of `for await`, or an abort of the call's signal stop the daemon's iterator
 * (its `finally` runs there).
 */
export class RemoteStream<T = unknown> implements AsyncIterableIterator<T>, AsyncDisposable {
  readonly #id: number;
  readonly #link: StreamLink;
  readonly #buffer: T[] = [];
  readonly #waiters: Waiter[] = [];
  /** Items granted and not yet received. */
  #owed = 0;
  /** Set once no item will arrive any more: `true` for a normal end, else the error. */
  #over: true | Error | undefined;
  /** The daemon's iterator may still run: a stop must be sent on return(). */
  #live = true;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: (() => void) | undefined;

  constructor(id: number, link: StreamLink, signal?: AbortSignal) {
    this.#id = id;
    this.#link = link;
    this.#signal = signal;
    if (signal !== undefined) {
      this.#onAbort = () => this.#stop(signal.reason as Error);
      signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  /** The next item, or done once the daemon's iterator is done. */
  next(): Promise<IteratorResult<T>> {
    if (this.#buffer.length > 0) {
      const value = this.#buffer.shift() as T;
      this.#topUp();
      return Promise.resolve({ done: false, value });
    }
    if (this.#over === true) return Promise.resolve(DONE);
    if (this.#over !== undefined) {
      const error = this.#over;
      // Like a generator that threw: the error once, then done.
      this.#over = true;
      return Promise.reject(error);
    }
    this.#topUp();
    return new Promise((resolve, reject) => {
      if (this.#waiters.length === 0) this.#link.waiting(1);
      this.#waiters.push({ resolve: resolve as Waiter['resolve'], reject });
    });
  }

  /** Stops the stream: the daemon ends its iterator. Items not consumed are dropped. */
  return(): Promise<IteratorResult<T>> {
    this.#stop(undefined);
    return Promise.resolve(DONE);
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#stop(undefined);
  }

  /** Item from the daemon. */
  push(value: T): void {
    if (this.#over !== undefined) return;
    this.#owed--;
    const waiter = this.#waiters.shift();
    if (waiter === undefined) {
      this.#buffer.push(value);
      return;
    }
    if (this.#waiters.length === 0) this.#link.waiting(-1);
    waiter.resolve({ done: false, value });
    this.#topUp();
  }

  /** The daemon's iterator is done (`error` undefined) or failed: no more items arrive. */
  end(error?: LoopbackSingletonError | Error): void {
    if (this.#over !== undefined) return;
    this.#live = false;
    this.#over = error ?? true;
    this.#detach();
    // Buffered items are still delivered; the waiters exist only when the buffer is empty.
    const waiters = this.#waiters.splice(0);
    if (waiters.length > 0) this.#link.waiting(-1);
    for (const waiter of waiters) {
      if (this.#over === true) waiter.resolve(DONE);
      else {
        const failure = this.#over;
        this.#over = true;
        waiter.reject(failure);
      }
    }
  }

  /** Grants more items when fewer than half a window is granted and unconsumed. */
  #topUp(): void {
    if (this.#over !== undefined) return;
    const ahead = this.#owed + this.#buffer.length;
    if (ahead > STREAM_WINDOW / 2) return;
    const n = STREAM_WINDOW - ahead;
    this.#owed += n;
    this.#link.credit(this.#id, n);
  }

  #stop(error: Error | undefined): void {
    this.#buffer.length = 0;
    if (this.#live) {
      this.#live = false;
      this.#link.stop(this.#id);
    }
    this.end(error);
    // A consumer that returned sees done from now on, whatever the error was.
    if (error === undefined) this.#over = true;
  }

  #detach(): void {
    if (this.#onAbort !== undefined) this.#signal?.removeEventListener('abort', this.#onAbort);
  }
}

/**
 * The async iteration a proxy call's promise offers: the stream it resolves to, or a
 * `TypeError` when the method did not return an async iterable.
 */
function iterateCall(this: Promise<unknown>): AsyncIterableIterator<unknown> {
  const stream = (): Promise<RemoteStream> => this.then(asStream);
  const iterator: AsyncIterableIterator<unknown> = {
    next: () => stream().then((s) => s.next()),
    return: () =>
      this.then(
        (value) => (value instanceof RemoteStream ? value.return() : DONE),
        () => DONE,
      ),
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}

function disposeCall(this: Promise<unknown>): Promise<void> {
  return this.then(
    (value) => (value instanceof RemoteStream ? value[Symbol.asyncDispose]() : undefined),
    () => undefined,
  );
}

function asStream(value: unknown): RemoteStream {
  if (value instanceof RemoteStream) return value;
  throw new TypeError('The method did not return an async iterable: await its result instead of iterating it');
}

/** Makes a call's promise iterable and disposable as the stream it resolves to. */
export function streamable<P extends Promise<unknown>>(promise: P): P {
  const target = promise as P & { [Symbol.asyncIterator]?: unknown; [Symbol.asyncDispose]?: unknown };
  target[Symbol.asyncIterator] = iterateCall;
  target[Symbol.asyncDispose] = disposeCall;
  return promise;
}
