/**
 * Connect + handshake, client side: the client handshake statechart
 * (machines/client-handshake.machine.ts, effects in ../wire/handshake.ts) fed with the socket's
 * happenings and the frames it cuts. On the welcome, the socket, its decoder (and the rest of
 * the chunk being read) are handed to the connection `open` builds; every other ending destroys
 * the socket and rejects with the error that ending names. With `tls` (for a daemon off
 * loopback) the socket is mutual TLS (../net/tls.ts, loaded then only) and the handshake starts
 * once TLS is established.
 */
import { connect, type Socket } from 'node:net';
import { createActor } from 'xstate';
import type { ClientHandshakeEvent } from '../../machines/client-handshake.machine.js';
import { inspector } from '../inspect.js';
import type { TlsMaterial } from '../net/tls-material.js';
import { formatAddress } from '../runtime/metadata.js';
import type { DaemonInfo, DaemonMetadata } from '../types.js';
import { PROTOCOL_VERSION } from '../version.js';
import { createNonce, proofKey, type ProofKey } from '../wire/auth.js';
import { decodeValue, FrameDecoder, HANDSHAKE_MAX_FRAME_BYTES } from '../wire/codec.js';
import { clientHandshake, clientHandshakeError } from '../wire/handshake.js';
import type { ClientLink } from '../wire/handshake-links.js';
import { parseDaemonMessage } from '../wire/parse.js';

/** Where and how to connect. */
export interface ConnectOptions {
  readonly token: Uint8Array;
  readonly maxFrameBytes: number;
  /** Budget for connect + handshake. */
  readonly timeoutMs: number;
  /** Gives up connecting (the socket is destroyed). */
  readonly signal?: AbortSignal | undefined;
  /** Connect as an observer: the daemon does not count this connection as active. */
  readonly observe?: boolean | undefined;
  /** The singleton's name, for inspection records (the address if not given). */
  readonly name?: string | undefined;
  /** Connect over mutual TLS with this material (a daemon with `tls`). Absent: plain. */
  readonly tls?: TlsMaterial | undefined;
}

/** A socket whose peer proved it holds the token, with what it said in its welcome. */
export interface AuthenticatedSocket {
  readonly socket: Socket;
  /** Cuts the socket's bytes into frames: now up to the client's `maxFrameBytes`. */
  readonly decoder: FrameDecoder;
  readonly welcome: DaemonInfo;
}

/** What takes the payloads that follow the welcome. */
export interface PayloadReceiver {
  receive(payload: Buffer): void;
  /** A frame after the welcome could not be cut or taken. */
  fail(error: unknown): void;
}

/**
 * The last token this process shook hands with, and its key object. A key object costs ~25 us
 * to make on a lukewarm path (it was made once per handshake); the token file is still read
 * and checked before every connect, and a token of another value (rotated, another singleton's)
 * gets a key of its own.
 */
let lastToken: { readonly bytes: Buffer; readonly key: ProofKey } | undefined;

/** `token` as the key of its proofs, made once per token value. */
function tokenKey(token: Uint8Array): ProofKey {
  if (lastToken === undefined || !lastToken.bytes.equals(token)) lastToken = { bytes: Buffer.from(token), key: proofKey(token) };
  return lastToken.key;
}

/** The event a decoded frame is for the statechart. */
function frameEvent(payload: Buffer): ClientHandshakeEvent {
  let message: ReturnType<typeof parseDaemonMessage>;
  try {
    message = parseDaemonMessage(decodeValue(payload));
  } catch (error) {
    return { type: 'frame.invalid', error };
  }
  switch (message.t) {
    case 'challenge':
      return { type: 'frame.challenge', message };
    case 'welcome':
      return { type: 'frame.welcome', info: message.info };
    case 'error':
      return { type: 'frame.refusal', message };
    default:
      return { type: 'frame.unexpected', t: message.t };
  }
}

/**
 * Connects to the daemon `metadata` describes, runs the mutual handshake and resolves with
 * what `open` builds over the authenticated socket (called synchronously on the welcome).
 */
export function shakeHands<R extends PayloadReceiver>(
  metadata: Pick<DaemonMetadata, 'transport' | 'host' | 'port' | 'path'>,
  options: ConnectOptions,
  open: (authenticated: AuthenticatedSocket) => R,
): Promise<R> {
  const { tls } = options;
  if (tls === undefined) {
    const socket = metadata.transport === 'tcp' ? connect({ host: metadata.host!, port: metadata.port!, noDelay: true }) : connect({ path: metadata.path! });
    return shakeHandsOn(socket, PLAIN, metadata, options, open);
  }
  return import('../net/tls.js').then(({ connectTls, describeTlsFailure }) =>
    shakeHandsOn(connectTls(metadata, tls), { connected: 'secureConnect', describe: describeTlsFailure }, metadata, options, open),
  );
}

/** How the socket under the handshake says it is ready, and what its errors mean. */
interface SocketKind {
  /** The event after which the hello can be sent: `connect`, or `secureConnect` for TLS. */
  readonly connected: 'connect' | 'secureConnect';
  /** A socket error as the one to report (`connected`: whether that event had come). */
  readonly describe?: (error: Error, connected: boolean) => Error;
}

const PLAIN: SocketKind = { connected: 'connect' };

/** {@link shakeHands} over `socket`, just created. */
function shakeHandsOn<R extends PayloadReceiver>(
  socket: Socket,
  kind: SocketKind,
  metadata: Pick<DaemonMetadata, 'transport' | 'host' | 'port' | 'path'>,
  options: ConnectOptions,
  open: (authenticated: AuthenticatedSocket) => R,
): Promise<R> {
  const address = formatAddress(metadata);
  return new Promise<R>((resolve, reject) => {
    // Until the daemon has proved itself, only handshake-sized frames (a welcome is ~0.5 KiB).
    const decoder = new FrameDecoder(Math.min(HANDSHAKE_MAX_FRAME_BYTES, options.maxFrameBytes));
    const link: ClientLink = {
      socket,
      token: tokenKey(options.token),
      clientNonce: createNonce(),
      maxFrameBytes: options.maxFrameBytes,
      observe: options.observe === true,
    };
    const actor = createActor(clientHandshake, {
      input: { link, timeoutMs: options.timeoutMs, protocolVersion: PROTOCOL_VERSION },
      inspect: inspector('handshake', options.name ?? address),
    });
    let settled = false;
    // Frames that arrive in the same chunk right after the welcome belong to the connection.
    let opened: R | undefined;
    const send = (event: ClientHandshakeEvent) => {
      if (!settled) actor.send(event);
    };
    const onAbort = () => send({ type: 'abort', reason: options.signal!.reason });
    let connected = false;
    const onConnect = () => {
      connected = true;
      send({ type: 'socket.connected' });
    };
    const onError = (error: Error) => send({ type: 'socket.error', error: kind.describe ? kind.describe(error, connected) : error });
    const onClose = () => send({ type: 'socket.closed' });
    const onData = (chunk: Buffer) => {
      try {
        decoder.push(chunk, (payload) => {
          if (opened) opened.receive(payload);
          else send(frameEvent(payload));
        });
      } catch (error) {
        if (opened) opened.fail(error);
        else send({ type: 'frame.invalid', error });
      }
    };
    actor.subscribe({
      complete: () => {
        settled = true;
        options.signal?.removeEventListener('abort', onAbort);
        socket.removeListener(kind.connected, onConnect);
        socket.removeListener('data', onData);
        const { value, output } = actor.getSnapshot();
        if (value === 'authenticated') {
          socket.removeListener('error', onError);
          socket.removeListener('close', onClose);
          decoder.maxFrameBytes = options.maxFrameBytes;
          // The rest of the chunk being read goes to `opened` too (onData is still running
          // for it); the chunks after it go to the listener `opened` adds.
          opened = open({ socket, decoder, welcome: output!.info! });
          resolve(opened);
          return;
        }
        socket.destroy();
        reject(clientHandshakeError(String(value), output!, address));
      },
    });
    actor.start();
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket.on(kind.connected, onConnect);
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}
