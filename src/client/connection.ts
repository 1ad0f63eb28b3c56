/**
 * One client connection to a daemon: requests with ids (many in flight, answered in order by
 * the daemon) over a socket whose handshake completed (./handshake.ts), writes batched per
 * tick. Closing, or losing the socket, rejects every pending request.
 */
import type { Socket } from 'node:net';
import { DaemonConnectionError, type LoopbackSingletonError, errorFromWire, ProtocolError } from '../errors.js';
import { decodeAuthenticated, encodeFrame, type FrameDecoder } from '../wire/codec.js';
import { prepareValue } from '../wire/values.js';
import { FrameWriter } from '../wire/writer.js';
import type { CallMessage, ClientMessage, DaemonMessage } from '../wire/messages.js';
import { parseDaemonMessage } from '../wire/parse.js';
import type { DaemonInfo, DaemonMetadata } from '../types.js';
import { EventRouter, type EventSink } from './event-router.js';
import { StreamRouter } from './stream-router.js';
import { shakeHands, type AuthenticatedSocket, type ConnectOptions, type PayloadReceiver } from './handshake.js';
import { cannotSend, unreceivableReply, watchPending, type CallOptions, type Pending } from './pending.js';

export type { ConnectOptions } from './handshake.js';
export type { CallOptions } from './pending.js';

/** An authenticated connection to a daemon. */
export class Connection implements PayloadReceiver {
  readonly #socket: Socket;
  readonly #maxFrameBytes: number;
  readonly #decoder: FrameDecoder;
  readonly #writer: FrameWriter;
  readonly #pending = new Map<number, Pending>();
  readonly #closeListeners = new Set<(error: LoopbackSingletonError, rejected: number) => void>();
  /** Calls that became streams (./stream-router.ts), until they end or are stopped. */
  readonly #streams = new StreamRouter({
    send: (message) => this.#sendControl(message),
    waitingChanged: (waiting) => (waiting ? this.#socket.ref() : this.#unrefWhenIdle()),
  });
  #nextId = 1;
  /** Resolved when the pending map empties, for a dispose that lets calls finish. */
  #idleWaiters: Array<() => void> = [];
  #closed: LoopbackSingletonError | undefined;
  /** Set by close(): subscriptions then end quietly, not with the error calls get. */
  #closedHere = false;
  /** The event subscriptions on this connection; each keeps the process alive, as a call in flight does. */
  readonly #events = new EventRouter();
  /** What the daemon said about itself in its welcome. */
  readonly welcome: DaemonInfo;

  private constructor({ socket, decoder, welcome }: AuthenticatedSocket, maxFrameBytes: number) {
    this.#socket = socket;
    // Never send what the daemon would refuse: that would close the connection for every call on it.
    this.#maxFrameBytes = typeof welcome.maxFrameBytes === 'number' ? Math.min(maxFrameBytes, welcome.maxFrameBytes) : maxFrameBytes;
    this.#decoder = decoder;
    this.#writer = new FrameWriter(socket);
    this.welcome = welcome;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('close', () => {
      // After close() (every proxy's end) there is nothing left to tell: no error to build.
      if (!this.#closed) this.#shutdownWith(new DaemonConnectionError('The connection to the daemon was lost', { code: 'ERR_DAEMON_LOST' }));
    });
    socket.on('error', () => {});
    socket.unref();
  }

  /**
   * Connects to the daemon `metadata` describes and runs the mutual handshake.
   * @throws {ConnectionFailedError} when nothing answers in time.
   * @throws {HandshakeError} when the listener cannot prove it holds the token
   *   (`ERR_AUTH_FAILED`), rejects ours, or speaks another protocol version.
   */
  static open(metadata: Pick<DaemonMetadata, 'transport' | 'host' | 'port' | 'path'>, options: ConnectOptions): Promise<Connection> {
    return shakeHands(metadata, options, (authenticated) => new Connection(authenticated, options.maxFrameBytes));
  }

  /** Whether the connection is still usable. */
  get isOpen(): boolean {
    return this.#closed === undefined;
  }

  /**
   * Calls `method` with `args` on the hosted object.
   * @throws {ProtocolError} (as a rejection) `ERR_UNENCODABLE` for an argument that cannot
   *   cross the wire (../wire/values.ts), naming its path; nothing is sent.
   */
  call(method: string, args: readonly unknown[], options?: CallOptions): Promise<unknown> {
    let prepared: readonly unknown[];
    try {
      prepared = prepareValue(args, 'args') as readonly unknown[];
    } catch (error) {
      return Promise.reject(cannotSend(method, error));
    }
    const id = this.#nextId++;
    const timeoutMs = options?.timeoutMs;
    // The deadline on the shared host clock, so the daemon can skip a call whose caller is gone.
    const message: CallMessage =
      timeoutMs === undefined ? { t: 'call', id, m: method, a: prepared } : { t: 'call', id, m: method, a: prepared, dl: Date.now() + timeoutMs };
    return this.#request(message, options);
  }

  /** Resolves once no request is pending (at once if none is). */
  async settled(): Promise<void> {
    while (this.#pending.size > 0 && !this.#closed) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
  }

  /** The daemon's live info. */
  ping(): Promise<DaemonInfo> {
    return this.#request({ t: 'ping', id: this.#nextId++ }) as Promise<DaemonInfo>;
  }

  /** Asks the daemon to drain; resolves when it has accepted. */
  shutdown(force: boolean): Promise<void> {
    return this.#request({ t: 'shutdown', id: this.#nextId++, force }).then(() => undefined);
  }

  /**
   * Called once when the connection closes, with the error pending requests got and how many
   * requests were pending (and so rejected with it).
   */
  onClose(listener: (error: LoopbackSingletonError, rejected: number) => void): () => void {
    this.#closeListeners.add(listener);
    return () => this.#closeListeners.delete(listener);
  }

  /**
   * Subscribes `sink` to the events on `topic`; resolves with the subscription's id once the
   * daemon has it (every event published from then on reaches `sink`, unless dropped).
   */
  subscribe(topic: string, sink: EventSink, options?: CallOptions): Promise<number> {
    const id = this.#nextId++;
    // Added as the reply is read, before the events behind it in the same chunk.
    return this.#request({ t: 'subscribe', id, topic }, options, (result) => {
      const untold = (result as { dropped?: unknown } | null)?.dropped;
      this.#events.add(id, topic, sink, typeof untold === 'number' ? untold : 0);
      // The reply just settled (and unref'd) the request: the subscription holds it now.
      this.#socket.ref();
      return id;
    }) as Promise<number>;
  }

  /** Ends subscription `id`: no event reaches its sink from now on; resolves once the daemon knows. */
  async unsubscribe(id: number): Promise<void> {
    if (!this.#events.remove(id) || this.#closed) return;
    this.#unrefWhenIdle();
    await this.#request({ t: 'unsubscribe', id: this.#nextId++, sub: id });
  }

  /** Closes the connection; pending requests reject (with `error`, if given). Idempotent. */
  close(error?: LoopbackSingletonError): void {
    if (!this.#closed) this.#closedHere = true;
    this.#shutdownWith(error ?? new DaemonConnectionError('The connection was closed by this client', { code: 'ERR_DAEMON_CONNECTION' }));
    // Frames batched this tick (a cancel, a stop) leave before the end.
    this.#writer.flush();
    this.#socket.end();
  }

  /** `onReply`: turns the result into what the promise resolves with, as the reply is read. */
  #request(message: Extract<ClientMessage, { id: number }>, options?: CallOptions, onReply?: (result: unknown) => unknown): Promise<unknown> {
    if (this.#closed) return Promise.reject(this.#closed);
    let frame: Buffer;
    try {
      frame = encodeFrame(message, this.#maxFrameBytes);
    } catch (error) {
      // Nothing was written: only this request fails, the connection goes on.
      return Promise.reject(message.t === 'call' ? cannotSend(message.m, error) : error);
    }
    return new Promise((resolve, reject) => {
      const pending: Pending = { resolve: onReply === undefined ? resolve : (result) => resolve(onReply(result)), reject };
      if (options && (options.timeoutMs !== undefined || options.signal !== undefined)) {
        if (options.signal?.aborted) return reject(options.signal.reason);
        // Giving up tells the daemon (`cancel`): a call not started never runs; a late reply is ignored.
        watchPending(pending, options, (error) => this.#giveUp(message.id, pending, error));
      }
      // An idle connection does not keep the process alive; one with work in flight does.
      // A request alone in flight goes out at once; one among others joins the tick's batch.
      if (this.#pending.size === 0) {
        this.#socket.ref();
        this.#pending.set(message.id, pending);
        this.#writer.writeAlone(frame);
      } else {
        this.#pending.set(message.id, pending);
        this.#writer.write(frame);
      }
    });
  }

  /** The caller of request `id` gave up (its deadline, its signal): rejected now, the daemon told. */
  #giveUp(id: number, pending: Pending, error: Error): void {
    if (this.#pending.get(id) !== pending) return;
    this.#reject(id, pending, error);
    if (!this.#closed) this.#writer.write(encodeFrame({ t: 'cancel', id }, this.#maxFrameBytes));
  }

  /** Request `id` fails with `error`, alone. */
  #reject(id: number, pending: Pending, error: Error): void {
    this.#settle(id);
    pending.cleanup?.();
    pending.reject(error);
  }

  /** Forgets request `id`; unrefs the socket and wakes `settled()` when none is left. */
  #settle(id: number): void {
    this.#pending.delete(id);
    if (this.#pending.size === 0) {
      this.#unrefWhenIdle();
      if (this.#idleWaiters.length > 0) {
        const waiters = this.#idleWaiters;
        this.#idleWaiters = [];
        for (const wake of waiters) wake();
      }
    }
  }

  /** No request in flight, no subscription, no stream waiting for an item: the connection no longer keeps the process alive. */
  #unrefWhenIdle(): void {
    if (this.#pending.size === 0 && this.#events.size === 0 && !this.#streams.waiting) this.#socket.unref();
  }

  #onData(chunk: Buffer): void {
    try {
      this.#decoder.push(chunk, (payload) => this.receive(payload));
    } catch (error) {
      this.fail(error);
    }
  }

  /** A frame that could not be cut or taken closes the connection. */
  fail(error: unknown): void {
    const reason = error instanceof ProtocolError ? error.message : String(error);
    this.#shutdownWith(new DaemonConnectionError(`The daemon sent an invalid frame: ${reason}`, { code: 'ERR_DAEMON_LOST', cause: error }));
    this.#socket.destroy();
  }

  /** One payload from the daemon. */
  receive(payload: Buffer): void {
    let value: unknown;
    try {
      value = decodeAuthenticated(payload);
    } catch (error) {
      // A reply refused for a map key that is not a scalar (see ./pending.ts): that call alone
      // rejects (unless its caller stopped waiting), and the connection goes on.
      const refused = unreceivableReply(payload);
      if (refused === undefined) throw error;
      const pending = this.#pending.get(refused.id);
      if (pending !== undefined) this.#reject(refused.id, pending, refused.error);
      return;
    }
    this.#onMessage(parseDaemonMessage(value));
  }

  #onMessage(message: DaemonMessage): void {
    if (message.t === 'event') {
      this.#events.deliver(message);
      return;
    }
    if (message.t === 'reply' || (message.t === 'error' && message.id !== null)) {
      const pending = this.#pending.get(message.id!);
      if (pending === undefined) {
        if (message.t === 'error') this.#streams.deliver(message);
        // A stream whose caller gave up (a deadline, an abort) before it began.
        else if (message.stream === true) this.#sendControl({ t: 'stop', id: message.id });
        return;
      }
      this.#settle(message.id!);
      pending.cleanup?.();
      if (message.t === 'error') pending.reject(errorFromWire(message.e));
      else if (message.stream === true) pending.resolve(this.#streams.open(message.id, pending.signal));
      else pending.resolve(message.r);
      return;
    }
    if (message.t === 'item' || message.t === 'end') {
      this.#streams.deliver(message);
      return;
    }
    if (message.t === 'error') {
      // The daemon is closing this connection and says why.
      this.#shutdownWith(errorFromWire(message.e));
    }
  }

  /** A stream's credit or stop: nothing to answer, nothing once closed. */
  #sendControl(message: Extract<ClientMessage, { t: 'credit' | 'stop' }>): void {
    if (this.#closed) return;
    this.#writer.write(encodeFrame(message, this.#maxFrameBytes));
  }

  #shutdownWith(error: LoopbackSingletonError): void {
    if (this.#closed) return;
    this.#closed = error;
    const pendings = [...this.#pending.values()];
    this.#pending.clear();
    for (const pending of pendings) {
      pending.cleanup?.();
      pending.reject(error);
    }
    this.#streams.endAll(error);
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const wake of waiters) wake();
    // A subscription that ends with the loss tells its consumer, as a rejected call does.
    const ended = this.#events.endAll(this.#closedHere ? undefined : error);
    for (const listener of this.#closeListeners) listener(error, pendings.length + (this.#closedHere ? 0 : ended));
    this.#closeListeners.clear();
  }
}
