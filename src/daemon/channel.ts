/**
 * One accepted socket, framed: bytes in are cut into payloads for its receiver (first the
 * handshake, ../wire/handshake.ts, then the authenticated connection, ./connection.ts), frames
 * out go through one writer. Any bad input closes this socket only.
 */
import type { Socket } from 'node:net';
import { errorToWire, ProtocolError, type WireError } from '../errors.js';
import { encodeFrame, FrameDecoder, HANDSHAKE_REQUEST_MAX_FRAME_BYTES } from '../wire/codec.js';
import type { DaemonMessage } from '../wire/messages.js';
import { FrameWriter } from '../wire/writer.js';

/** Who the channel's payloads go to. */
export interface Receiver {
  /** One complete payload; a throw fails the channel (see {@link fail}). */
  receive(payload: Buffer): void;
  /** A frame could not be cut or taken (too large, undecodable, not allowed). */
  fail(error: unknown): void;
  /** The socket is gone, whoever ended it. Called once. */
  closed(): void;
}

/** A client socket on the daemon. */
export class Channel {
  readonly socket: Socket;
  readonly writer: FrameWriter;
  readonly #decoder: FrameDecoder;
  readonly #maxFrameBytes: number;
  readonly #log: (line: string) => void;
  #receiver: Receiver | undefined;
  #closed = false;
  #authenticated = false;
  /**
   * When the first byte of the partial frame arrived (ms, monotonic), for the whole-frame
   * deadline: a frame must complete within stallTimeoutMs of its first byte, so a peer that
   * trickles a byte now and then cannot hold its buffer forever.
   */
  frameStartedAt = performance.now();

  /** `mayWrite`: a cluster daemon's fence, asked before each batch of frames leaves (see ../wire/writer.ts). */
  constructor(socket: Socket, maxFrameBytes: number, log: (line: string) => void, mayWrite?: () => boolean) {
    this.socket = socket;
    this.#maxFrameBytes = maxFrameBytes;
    this.#log = log;
    // Until the peer has authenticated, only frames the size of a hello or an auth.
    this.#decoder = new FrameDecoder(Math.min(HANDSHAKE_REQUEST_MAX_FRAME_BYTES, maxFrameBytes));
    this.writer = new FrameWriter(socket, mayWrite);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => this.#onClose());
    socket.on('close', () => this.#onClose());
  }

  /** Where payloads go from now on (the rest of the chunk being read included). */
  receiveWith(receiver: Receiver): void {
    this.#receiver = receiver;
  }

  /** The peer authenticated: frames up to the daemon's `maxFrameBytes`, for `receiver`. */
  authenticate(receiver: Receiver): void {
    this.#authenticated = true;
    this.#decoder.maxFrameBytes = this.#maxFrameBytes;
    this.#receiver = receiver;
  }

  /** Whether the handshake completed. */
  get isAuthenticated(): boolean {
    return this.#authenticated;
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  get maxFrameBytes(): number {
    return this.#maxFrameBytes;
  }

  /** Whether a frame has started arriving but is not complete. */
  get hasPartialFrame(): boolean {
    return this.#decoder.hasPartialFrame;
  }

  /** Encodes and writes `message` (batched per tick); nothing once closed. */
  send(message: DaemonMessage): void {
    if (this.#closed) return;
    this.writer.write(encodeFrame(message, this.#maxFrameBytes));
  }

  /**
   * Closes the socket, after sending `reason` if given. Remaining writes are flushed first; a
   * peer that does not read gets destroyed after a short grace.
   */
  close(reason?: WireError): void {
    if (this.#closed) return;
    if (reason) this.send({ t: 'error', id: null, e: reason });
    this.writer.flush();
    this.#onClose();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  /** Drops the socket at once; `reason`, if given, goes to the log. */
  destroy(reason?: string): void {
    if (this.#closed) return;
    if (reason !== undefined) this.#log(`dropping connection: ${reason}`);
    this.#onClose();
    this.socket.destroy();
  }

  /** Logs `error` and closes with it: the peer may not be authenticated, so what was wrong, not where in our code. */
  protocolFailure(error: unknown): void {
    const wire = error instanceof ProtocolError ? errorToWire(error) : errorToWire(new ProtocolError(String((error as Error)?.message ?? error)));
    this.#log(`closing connection on protocol error ${wire.code}: ${wire.message}`);
    this.close({ code: wire.code, name: wire.name, message: wire.message });
  }

  #onData(chunk: Buffer): void {
    if (this.#closed) return;
    const continuing = this.#decoder.hasPartialFrame;
    let completed = 0;
    // The replies to this chunk's calls (those answered at once) leave together afterwards.
    this.writer.hold();
    try {
      this.#decoder.push(chunk, (payload) => {
        completed++;
        if (!this.#closed) this.#receiver?.receive(payload);
      });
      // A frame started in this chunk: its deadline runs from now.
      if (this.#decoder.hasPartialFrame && (!continuing || completed > 0)) this.frameStartedAt = performance.now();
    } catch (error) {
      if (!this.#closed) this.#receiver?.fail(error);
    } finally {
      this.writer.release();
    }
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#receiver?.closed();
  }
}
