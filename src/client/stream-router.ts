/**
 * One connection's streams, client side: the calls whose reply said `stream` (./stream.ts),
 * by call id. It routes their items, end and error, sends their credit and stop, and counts
 * the consumers waiting for an item, which keep the process alive as a call in flight does.
 */
import { errorFromWire } from '../errors.js';
import type { ClientMessage, DaemonMessage } from '../wire/messages.js';
import { RemoteStream, type StreamLink } from './stream.js';

/** What the router needs from its connection. */
export interface StreamControl {
  /** Sends a stream's credit or stop (nothing once the connection is closed). */
  send(message: Extract<ClientMessage, { t: 'credit' | 'stop' }>): void;
  /** The number of waiting consumers went from 0 to 1, or back to 0. */
  waitingChanged(waiting: boolean): void;
}

/** The open streams of one connection. */
export class StreamRouter {
  readonly #open = new Map<number, RemoteStream>();
  readonly #control: StreamControl;
  #waiting = 0;
  readonly #link: StreamLink = {
    credit: (id, n) => this.#control.send({ t: 'credit', id, n }),
    stop: (id) => {
      if (this.#open.delete(id)) this.#control.send({ t: 'stop', id });
    },
    waiting: (delta) => {
      this.#waiting += delta;
      if (this.#waiting === 0 || (delta === 1 && this.#waiting === 1)) this.#control.waitingChanged(this.#waiting > 0);
    },
  };

  constructor(control: StreamControl) {
    this.#control = control;
  }

  /** Whether a consumer waits for an item. */
  get waiting(): boolean {
    return this.#waiting > 0;
  }

  /** Call `id` became a stream. */
  open(id: number, signal: AbortSignal | undefined): RemoteStream {
    const stream = new RemoteStream(id, this.#link, signal);
    this.#open.set(id, stream);
    return stream;
  }

  /** An item, the end, or the error of a stream (ignored once the stream was stopped). */
  deliver(message: Extract<DaemonMessage, { t: 'item' | 'end' | 'error' }>): void {
    const stream = this.#open.get(message.id!);
    if (stream === undefined) return;
    if (message.t === 'item') {
      stream.push(message.v);
      return;
    }
    this.#open.delete(message.id!);
    stream.end(message.t === 'error' ? errorFromWire(message.e) : undefined);
  }

  /** The connection is gone: every stream ends with `error`. */
  endAll(error: Error): void {
    const streams = [...this.#open.values()];
    this.#open.clear();
    for (const stream of streams) stream.end(error);
  }
}
