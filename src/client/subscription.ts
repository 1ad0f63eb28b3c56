/**
 * One subscription to the hosted object's events, as its consumer sees it: an async iterator
 * over the payloads in publish order, with a bounded buffer for a consumer that lags (an event
 * that finds it full is dropped and counted, never queued), disposable with `await using`.
 */
import type { EventSink } from './event-router.js';

/** Options of one subscription. */
export interface SubscribeOptions {
  /**
   * Events kept for a consumer that has not taken them yet. An event that arrives when this
   * many wait is dropped and counted in {@link Subscription.dropped}: memory stays bounded
   * however slow the loop body is.
   * @default 1024
   */
  readonly bufferSize?: number | undefined;
  /** Ends the subscription: the iteration rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
}

/** The default {@link SubscribeOptions.bufferSize}. */
export const DEFAULT_EVENT_BUFFER_SIZE = 1024;

/** Checks a subscription's options once, at the boundary. */
export function checkSubscribeOptions(options: SubscribeOptions | undefined): number {
  const size = options?.bufferSize ?? DEFAULT_EVENT_BUFFER_SIZE;
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new TypeError(`Expected \`bufferSize\` to be an integer >= 1, got \`${String(size)}\` (${typeof size})`);
  }
  if (options?.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new TypeError(`Expected \`signal\` to be an AbortSignal, got ${typeof options.signal}`);
  }
  return size;
}

/** An event waiting for its consumer, with the events lost just before it. */
interface Waiting {
  readonly data: unknown;
  readonly droppedBefore: number;
}

/** How the subscription ended: quietly, or with the error its iteration rejects with. */
interface Ending {
  error: Error | undefined;
}

/**
 * A live subscription: `for await (const data of sub)` takes its events in publish order.
 * Leaving the loop (`break`, `return`, a throw), `await using`, or {@link unsubscribe} ends
 * it. When the daemon is lost it ends with `ERR_DAEMON_LOST` once the events already received
 * are taken; it never moves to a restarted daemon: subscribe again for that.
 */
export class Subscription<D> implements AsyncIterableIterator<D>, AsyncDisposable, EventSink {
  /** The topic subscribed to. */
  readonly topic: string;
  readonly #bufferSize: number;
  readonly #waiting: Waiting[] = [];
  /** Consumers awaiting `next()` while nothing waits (at most one in a `for await`). */
  readonly #takers: Array<{ resolve(result: IteratorResult<D>): void; reject(error: Error): void }> = [];
  /** Events lost since the last one buffered (or taken): told with the next one. */
  #lost = 0;
  #dropped = 0;
  #ending: Ending | undefined;
  /** Ends the subscription on the daemon; set once the daemon has it. */
  #release: (() => Promise<void>) | undefined;
  #unsubscribing: Promise<void> | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort = (): void => {
    this.#end(this.#signal!.reason as Error, true);
    void this.#releaseRemote();
  };

  constructor(topic: string, bufferSize: number, signal: AbortSignal | undefined) {
    this.topic = topic;
    this.#bufferSize = bufferSize;
    this.#signal = signal;
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /**
   * How many events on this topic were lost (the subscriber lagged: its buffer here or its
   * socket on the daemon was full) before the event last taken, or before the end once the
   * iteration is done. Compare it between two events to see a gap.
   */
  get dropped(): number {
    return this.#dropped;
  }

  /** The daemon has the subscription: `release` ends it there. */
  attach(release: () => Promise<void>): void {
    this.#release = release;
    // Ended (aborted, unsubscribed, lost) while the daemon was taking it: end it there too.
    if (this.#ending) void this.#releaseRemote();
  }

  event(data: unknown, dropped: number): void {
    if (this.#ending) return;
    this.#lost += dropped;
    const taker = this.#takers.shift();
    if (taker !== undefined) {
      this.#dropped += this.#lost;
      this.#lost = 0;
      taker.resolve({ value: data as D, done: false });
    } else if (this.#waiting.length < this.#bufferSize) {
      this.#waiting.push({ data, droppedBefore: this.#lost });
      this.#lost = 0;
    } else {
      this.#lost++;
    }
  }

  missed(count: number): void {
    if (!this.#ending) this.#lost += count;
  }

  end(error: Error | undefined): void {
    this.#end(error, false);
  }

  next(): Promise<IteratorResult<D>> {
    const waiting = this.#waiting.shift();
    if (waiting !== undefined) {
      this.#dropped += waiting.droppedBefore;
      return Promise.resolve({ value: waiting.data as D, done: false });
    }
    if (this.#ending) return this.#finish();
    return new Promise((resolve, reject) => this.#takers.push({ resolve, reject }));
  }

  /** Leaving a `for await` loop: ends the subscription. */
  async return(): Promise<IteratorResult<D>> {
    await this.unsubscribe();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /**
   * Ends the subscription: the iteration is done at once (events not yet taken are
   * discarded), and the daemon stops sending. Idempotent; never rejects.
   */
  unsubscribe(): Promise<void> {
    this.#end(undefined, true);
    // Done, even after a loss or an abort: the consumer asked for no more.
    this.#ending!.error = undefined;
    return this.#releaseRemote();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.unsubscribe();
  }

  /** Ends the subscription on the daemon, once; never rejects (a connection gone took it with it). */
  #releaseRemote(): Promise<void> {
    if (this.#release === undefined) return Promise.resolve();
    this.#unsubscribing ??= this.#release().catch(() => {});
    return this.#unsubscribing;
  }

  /** `discard`: drop the events not taken yet (an unsubscribe, an abort), else they are taken first. */
  #end(error: Error | undefined, discard: boolean): void {
    if (discard) this.#waiting.length = 0;
    if (this.#ending) return;
    this.#ending = { error };
    this.#signal?.removeEventListener('abort', this.#onAbort);
    if (this.#waiting.length > 0) return;
    for (const taker of this.#takers.splice(0)) {
      const result = this.#finish();
      result.then(taker.resolve, taker.reject);
    }
  }

  /** The iteration's end: the error once, then done. */
  #finish(): Promise<IteratorResult<D>> {
    this.#dropped += this.#lost;
    this.#lost = 0;
    const ending = this.#ending!;
    const { error } = ending;
    if (error === undefined) return Promise.resolve({ value: undefined, done: true });
    ending.error = undefined;
    return Promise.reject(error);
  }
}
