/**
 * One client connection, daemon side: the handshake (hello -> challenge -> auth ->
 * welcome), then requests (call, ping, shutdown) until either side closes. Any bad input
 * closes this connection only.
 */
import type { Socket } from 'node:net';
import { errorToWire, ProtocolError, type WireError } from '../errors.js';
import { computeProof, createNonce, verifyProof } from '../wire/auth.js';
import { decodeValue, encodeFrame, FrameDecoder, HANDSHAKE_REQUEST_MAX_FRAME_BYTES } from '../wire/codec.js';
import { locateRefusedKey, withUnencodablePath } from '../wire/unencodable.js';
import { isNonce, parseClientMessage, type ClientMessage, type DaemonMessage } from '../wire/messages.js';
import { FrameWriter } from '../wire/writer.js';
import { PROTOCOL_VERSION, PACKAGE_VERSION } from '../version.js';
import type { DaemonInfo } from '../types.js';
import type { CallSink, Mailbox } from './mailbox.js';

/** What a connection needs from its daemon. */
export interface ConnectionHost {
  readonly token: Uint8Array;
  readonly maxFrameBytes: number;
  readonly mailbox: Mailbox;
  info(): DaemonInfo;
  /** The connection completed the handshake: it now counts as active. */
  authenticated(connection: DaemonConnection): void;
  /** The connection is gone; `wasAuthenticated` says whether it had counted as active. */
  closed(connection: DaemonConnection, wasAuthenticated: boolean): void;
  shutdownRequested(force: boolean): void;
  log(line: string): void;
}

type Phase = 'hello' | 'auth' | 'open' | 'closed';

/** A client connection on the daemon. */
export class DaemonConnection implements CallSink {
  readonly #socket: Socket;
  readonly #host: ConnectionHost;
  readonly #decoder: FrameDecoder;
  readonly #writer: FrameWriter;
  #phase: Phase = 'hello';
  #clientNonce: Uint8Array | undefined;
  /** An observer's connection never counts as active (see HelloMessage.observe). */
  #observer = false;
  #daemonNonce: Uint8Array | undefined;
  /** When the connection was accepted (ms, monotonic), for the handshake deadline. */
  readonly openedAt = performance.now();
  /**
   * When the first byte of the partial frame arrived (ms, monotonic), for the whole-frame
   * deadline: a frame must complete within stallTimeoutMs of its first byte, so a peer that
   * trickles a byte now and then cannot hold its buffer forever.
   */
  frameStartedAt = this.openedAt;

  constructor(socket: Socket, host: ConnectionHost) {
    this.#socket = socket;
    this.#host = host;
    // Until the peer has authenticated, only frames the size of a hello or an auth.
    this.#decoder = new FrameDecoder(Math.min(HANDSHAKE_REQUEST_MAX_FRAME_BYTES, host.maxFrameBytes));
    this.#writer = new FrameWriter(socket);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', () => this.#onClose());
    socket.on('close', () => this.#onClose());
  }

  /** Whether the handshake completed (and the connection counts as active). */
  get isAuthenticated(): boolean {
    return this.#phase === 'open';
  }

  /** Whether the connection is open and has not completed its handshake yet. */
  get isHandshaking(): boolean {
    return this.#phase === 'hello' || this.#phase === 'auth';
  }

  /** Whether a frame has started arriving but is not complete. */
  get hasPartialFrame(): boolean {
    return this.#decoder.hasPartialFrame;
  }

  replyOk(id: number, result: unknown): void {
    if (this.#phase === 'closed') return;
    let frame: Buffer;
    try {
      frame = encodeFrame({ t: 'reply', id, r: result }, this.#host.maxFrameBytes);
    } catch (error) {
      // A result too large or not encodable becomes an error reply; the call did run.
      const e = withUnencodablePath(error, result, 'result', 'The method ran, but its result cannot be sent') as ProtocolError;
      this.replyError(
        id,
        e.code === 'ERR_UNENCODABLE'
          ? { code: e.code, name: 'ProtocolError', message: e.message }
          : { code: 'ERR_REPLY_TOO_LARGE', name: 'ProtocolError', message: `The method ran, but its result could not be sent: ${e.message}` },
      );
      return;
    }
    this.#writer.write(frame);
  }

  replyError(id: number, error: WireError): void {
    if (this.#phase === 'closed') return;
    let frame: Buffer;
    try {
      frame = encodeFrame({ t: 'error', id, e: error }, this.#host.maxFrameBytes);
    } catch {
      // The error itself is too large (a huge message or stack): send it cut down, small
      // enough for the smallest frame cap (1 KiB), so the caller always gets an answer.
      frame = encodeFrame(
        { t: 'error', id, e: { code: error.code, name: String(error.name).slice(0, 64), message: String(error.message).slice(0, 200) } },
        this.#host.maxFrameBytes,
      );
    }
    this.#writer.write(frame);
  }

  /**
   * Closes the connection, after sending `reason` if given. Remaining writes are flushed
   * first; a peer that does not read gets destroyed after a short grace.
   */
  close(reason?: WireError): void {
    if (this.#phase === 'closed') return;
    if (reason) this.#send({ t: 'error', id: null, e: reason });
    this.#writer.flush();
    this.#onClose();
    this.#socket.end();
    setTimeout(() => this.#socket.destroy(), 1000).unref();
  }

  /** Drops the connection at once (deadline passed); `reason`, if given, goes to the log. */
  destroy(reason?: string): void {
    if (this.#phase === 'closed') return;
    if (reason !== undefined) this.#host.log(`dropping connection: ${reason}`);
    this.#onClose();
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    if (this.#phase === 'closed') return;
    const continuing = this.#decoder.hasPartialFrame;
    let completed = 0;
    // The replies to this chunk's calls (those answered at once) leave together afterwards.
    this.#writer.hold();
    try {
      this.#decoder.push(chunk, (payload) => {
        completed++;
        this.#onPayload(payload);
      });
      // A frame started in this chunk: its deadline runs from now.
      if (this.#decoder.hasPartialFrame && (!continuing || completed > 0)) this.frameStartedAt = performance.now();
    } catch (error) {
      this.#protocolFailure(error);
    } finally {
      this.#writer.release();
    }
  }

  #onPayload(payload: Buffer): void {
    if (this.#phase === 'closed') return;
    let value: unknown;
    try {
      value = decodeValue(payload);
    } catch (error) {
      if (this.#phase === 'open' && this.#refuseCall(payload)) return;
      throw error;
    }
    const message = parseClientMessage(value);
    if (this.#phase === 'open') this.#onRequest(message);
    else this.#onHandshake(message);
  }

  #onRequest(message: ClientMessage): void {
    switch (message.t) {
      case 'call':
        this.#host.mailbox.submit(this, message.id, message.m, message.a);
        return;
      case 'ping':
        this.#send({ t: 'reply', id: message.id, r: this.#host.info() });
        return;
      case 'shutdown':
        this.#send({ t: 'reply', id: message.id, r: { accepted: true } });
        this.#writer.flush();
        this.#host.shutdownRequested(message.force);
        return;
      default:
        throw new ProtocolError(`Message "${message.t}" is not allowed after the handshake`, { code: 'ERR_UNKNOWN_MESSAGE' });
    }
  }

  /**
   * A call our decoder refused for a map key that is not a scalar (a `Map` keyed by objects
   * among its arguments): that call alone is answered with `ERR_UNENCODABLE`, naming where
   * the key is, and never runs; the connection goes on. False when it is not such a call.
   */
  #refuseCall(payload: Buffer): boolean {
    const refused = locateRefusedKey(payload, true, 'call');
    if (refused === undefined) return false;
    this.replyError(refused.id, {
      code: 'ERR_UNENCODABLE',
      name: 'ProtocolError',
      message: `The arguments of ${JSON.stringify(String(refused.method).slice(0, 64))} cannot be received: ${refused.where}; the call was not run`,
    });
    return true;
  }

  #onHandshake(message: ClientMessage): void {
    if (this.#phase === 'hello' && message.t === 'hello') {
      if (message.v !== PROTOCOL_VERSION) {
        const refusal: WireError = {
          code: 'ERR_PROTOCOL_VERSION',
          name: 'HandshakeError',
          message: `The daemon speaks protocol ${PROTOCOL_VERSION} (package ${PACKAGE_VERSION}); the client speaks ${message.v}. Shut the daemon down (or let it idle out) and start it again with one version`,
        };
        // Signed when the client's nonce is readable, so the client can tell a genuine daemon
        // of another version (an error to report) from a foreign listener (stale, replace it).
        // Signed with a label of its own: anyone may ask for this proof over a nonce of their
        // choosing, so it must never verify as a challenge's.
        if (isNonce(message.nonce)) {
          const daemonNonce = createNonce();
          this.#send({
            t: 'error',
            id: null,
            e: refusal,
            v: PROTOCOL_VERSION,
            pid: process.pid,
            nonce: daemonNonce,
            proof: computeProof(this.#host.token, 'refusal', message.nonce, daemonNonce),
          });
          this.close();
        } else {
          this.close(refusal);
        }
        return;
      }
      if (!isNonce(message.nonce)) throw new ProtocolError('Invalid message: `hello.nonce` must be 32 bytes');
      this.#clientNonce = message.nonce;
      this.#observer = message.observe === true;
      this.#daemonNonce = createNonce();
      this.#phase = 'auth';
      this.#send({
        t: 'challenge',
        v: PROTOCOL_VERSION,
        pkg: PACKAGE_VERSION,
        nonce: this.#daemonNonce,
        proof: computeProof(this.#host.token, 'daemon', this.#clientNonce, this.#daemonNonce),
      });
      return;
    }
    if (this.#phase === 'auth' && message.t === 'auth') {
      if (!verifyProof(this.#host.token, 'client', this.#clientNonce!, this.#daemonNonce!, message.proof)) {
        this.close({ code: 'ERR_AUTH_FAILED', name: 'HandshakeError', message: "Authentication failed: the client does not hold this daemon's token" });
        return;
      }
      this.#phase = 'open';
      this.#decoder.maxFrameBytes = this.#host.maxFrameBytes;
      // The welcome leaves first: the client goes on while the daemon's statechart counts the
      // connection. So its info is the daemon as it was when it accepted the client.
      this.#send({ t: 'welcome', info: this.#host.info() });
      this.#writer.flush();
      if (!this.#observer) this.#host.authenticated(this);
      return;
    }
    throw new ProtocolError(`Message "${message.t}" is not allowed during the handshake`, { code: 'ERR_UNKNOWN_MESSAGE' });
  }

  #protocolFailure(error: unknown): void {
    const wire = error instanceof ProtocolError ? errorToWire(error) : errorToWire(new ProtocolError(String((error as Error)?.message ?? error)));
    this.#host.log(`closing connection on protocol error ${wire.code}: ${wire.message}`);
    // The peer may not be authenticated: tell it what was wrong, not where in our code.
    this.close({ code: wire.code, name: wire.name, message: wire.message });
  }

  #send(message: DaemonMessage): void {
    if (this.#phase === 'closed') return;
    this.#writer.write(encodeFrame(message, this.#host.maxFrameBytes));
  }

  #onClose(): void {
    if (this.#phase === 'closed') return;
    const wasAuthenticated = this.#phase === 'open' && !this.#observer;
    this.#phase = 'closed';
    this.#host.closed(this, wasAuthenticated);
  }
}
