/**
 * Every error the library raises, in the tree the README shows (Errors). Each class has a
 * default `code`; a few situations carry a more specific code on the same class (for example a
 * `HandshakeError` with `ERR_AUTH_FAILED`). Codes are public API and never change meaning.
 *
 * Errors cross the wire as `{ code, name, message, stack }` (see {@link WireError}) and are
 * rebuilt on the other side by code with {@link errorFromWire}.
 */

/** Every stable error code this package uses, with the class that carries it. */
export const ErrorCodes = {
  /** Generic library failure (base class). */
  ERR_LOOPBACK_SINGLETON: 'LoopbackSingletonError',
  /** Queued call dropped because the daemon was shut down with `force`. */
  ERR_SHUTDOWN_FORCED: 'LoopbackSingletonError',
  /** The caller stopped waiting (`callTimeoutMs`); the call still runs in its turn. */
  ERR_CALL_TIMEOUT: 'LoopbackSingletonError',
  /** Could not reach the daemon, or the connection broke. */
  ERR_DAEMON_CONNECTION: 'DaemonConnectionError',
  /** The daemon process went away while calls were in flight. */
  ERR_DAEMON_LOST: 'DaemonConnectionError',
  /** The daemon is draining and accepts no new calls (the call was not executed). */
  ERR_DAEMON_DRAINING: 'DaemonConnectionError',
  /** A supervised proxy restarted its daemon too often; it fails fast until the period passes. */
  ERR_RESTART_LIMIT: 'RestartLimitError',
  /** A proxy whose daemon was lost and whose restart policy is `false`, or that was disposed. */
  ERR_PROXY_CLOSED: 'DaemonConnectionError',
  /** Connecting to the daemon's address failed or timed out. */
  ERR_CONNECTION_FAILED: 'ConnectionFailedError',
  /**
   * The recorded daemon process is alive but did not complete a handshake within
   * `startTimeoutMs` (a hosted method busy on the CPU, a stopped process); it was left alone.
   */
  ERR_DAEMON_UNRESPONSIVE: 'ConnectionFailedError',
  /** The handshake failed for a reason other than the two below. */
  ERR_HANDSHAKE: 'HandshakeError',
  /** The peer could not prove it holds the per-user token. */
  ERR_AUTH_FAILED: 'HandshakeError',
  /** Client and daemon speak different protocol versions. */
  ERR_PROTOCOL_VERSION: 'HandshakeError',
  /** A frame or message is malformed. */
  ERR_PROTOCOL: 'ProtocolError',
  /** A frame is larger than `maxFrameBytes`. */
  ERR_FRAME_TOO_LARGE: 'ProtocolError',
  /** A method's result could not be sent (too large or not serialisable). */
  ERR_REPLY_TOO_LARGE: 'ProtocolError',
  /**
   * A value that cannot cross the wire (a symbol, a cycle, a BigInt outside 64 bits, a `Map`
   * key that is not a scalar): only that call fails; the message names the value's path.
   */
  ERR_UNENCODABLE: 'ProtocolError',
  /** A message type the receiver does not know, or one sent at the wrong moment. */
  ERR_UNKNOWN_MESSAGE: 'ProtocolError',
  /** The running daemon was started with another factory or other args. */
  ERR_FACTORY_MISMATCH: 'FactoryMismatchError',
  /** The daemon could not create the hosted object. */
  ERR_FACTORY: 'FactoryError',
  /** The member is private, unknown, or not a method. */
  ERR_METHOD_NOT_ALLOWED: 'MethodNotAllowedError',
  /** `maxQueuedCalls` calls are already waiting. */
  ERR_MAILBOX_FULL: 'MailboxFullError',
  /** The hosted method threw. */
  ERR_REMOTE: 'RemoteError',
} as const;

/** A stable error code. */
export type ErrorCode = keyof typeof ErrorCodes;

/** Options every error of this package accepts. */
export interface LoopbackSingletonErrorOptions {
  readonly code?: ErrorCode;
  readonly cause?: unknown;
}

/** Base class of every error this package raises. */
export class LoopbackSingletonError extends Error {
  /** Stable, documented error code. */
  readonly code: ErrorCode;

  constructor(message: string, options: LoopbackSingletonErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? (new.target as typeof LoopbackSingletonError).defaultCode;
  }

  /** The code an instance gets when none is given. */
  static defaultCode: ErrorCode = 'ERR_LOOPBACK_SINGLETON';
}

/** Could not reach the daemon, or lost it. */
export class DaemonConnectionError extends LoopbackSingletonError {
  static override defaultCode: ErrorCode = 'ERR_DAEMON_CONNECTION';
}

/** Connecting to the daemon failed. */
export class ConnectionFailedError extends DaemonConnectionError {
  static override defaultCode: ErrorCode = 'ERR_CONNECTION_FAILED';
}

/**
 * A supervised proxy restarted its daemon more than `restart.maxRestarts` times within
 * `restart.periodMs`; it fails fast until the period has passed (`retryAt`, epoch ms).
 */
export class RestartLimitError extends DaemonConnectionError {
  static override defaultCode: ErrorCode = 'ERR_RESTART_LIMIT';
  /** When the proxy will try again (epoch ms). */
  readonly retryAt: number | undefined;

  constructor(message: string, options: LoopbackSingletonErrorOptions & { retryAt?: number | undefined } = {}) {
    super(message, options);
    this.retryAt = options.retryAt;
  }
}

/** The handshake failed: wrong token or another protocol version. */
export class HandshakeError extends DaemonConnectionError {
  static override defaultCode: ErrorCode = 'ERR_HANDSHAKE';
  /** For a signed `ERR_PROTOCOL_VERSION` refusal: the pid of the daemon that refused. */
  readonly daemonPid: number | undefined;

  constructor(message: string, options: LoopbackSingletonErrorOptions & { daemonPid?: number | undefined } = {}) {
    super(message, options);
    this.daemonPid = options.daemonPid;
  }
}

/** Invalid or oversized frame or message. */
export class ProtocolError extends LoopbackSingletonError {
  static override defaultCode: ErrorCode = 'ERR_PROTOCOL';
}

/** The running daemon was started with another factory or other args. */
export class FactoryMismatchError extends LoopbackSingletonError {
  static override defaultCode: ErrorCode = 'ERR_FACTORY_MISMATCH';
}

/**
 * The daemon could not create the hosted object (the factory module failed to import, the
 * export is missing, the constructor threw). `message` is the daemon's own message;
 * `remoteStack` is the stack as the daemon saw it.
 */
export class FactoryError extends LoopbackSingletonError {
  static override defaultCode: ErrorCode = 'ERR_FACTORY';
  /** The original error's name in the daemon (`Error`, `SyntaxError`, ...). */
  readonly remoteName: string | undefined;
  /** The stack trace as the daemon saw it. */
  readonly remoteStack: string | undefined;
  /** The original error's own `code` (for example `ERR_MODULE_NOT_FOUND`). */
  readonly remoteCode: string | number | undefined;

  constructor(
    message: string,
    options: LoopbackSingletonErrorOptions & {
      remoteName?: string | undefined;
      remoteStack?: string | undefined;
      remoteCode?: string | number | undefined;
    } = {},
  ) {
    super(message, options);
    this.remoteName = options.remoteName;
    this.remoteStack = options.remoteStack;
    this.remoteCode = options.remoteCode;
    if (options.remoteStack) this.stack = `${this.stack}\n--- daemon stack ---\n${options.remoteStack}`;
  }
}

/** A private, unknown or non-method member was called. */
export class MethodNotAllowedError extends LoopbackSingletonError {
  static override defaultCode: ErrorCode = 'ERR_METHOD_NOT_ALLOWED';
}

/** The mailbox already holds `maxQueuedCalls` waiting calls. */
export class MailboxFullError extends LoopbackSingletonError {
  static override defaultCode: ErrorCode = 'ERR_MAILBOX_FULL';
}

/** What a hosted method threw, as the daemon saw it. */
export interface RemoteErrorDetails {
  readonly remoteName: string;
  readonly remoteMessage: string;
  readonly remoteStack: string | undefined;
  readonly remoteCode: string | number | undefined;
}

/** The hosted method threw; the original error's name, message, stack and code are kept. */
export class RemoteError extends LoopbackSingletonError implements RemoteErrorDetails {
  static override defaultCode: ErrorCode = 'ERR_REMOTE';
  readonly remoteName: string;
  readonly remoteMessage: string;
  readonly remoteStack: string | undefined;
  readonly remoteCode: string | number | undefined;

  constructor(details: RemoteErrorDetails) {
    super(`${details.remoteName}: ${details.remoteMessage}`);
    this.remoteName = details.remoteName;
    this.remoteMessage = details.remoteMessage;
    this.remoteStack = details.remoteStack;
    this.remoteCode = details.remoteCode;
  }
}

const classes = {
  LoopbackSingletonError,
  DaemonConnectionError,
  ConnectionFailedError,
  HandshakeError,
  RestartLimitError,
  ProtocolError,
  FactoryMismatchError,
  FactoryError,
  MethodNotAllowedError,
  MailboxFullError,
  RemoteError,
} as const;

/** An error as it travels in an `error` message or a failed-boot report. */
export interface WireError {
  /** A code of {@link ErrorCodes}. */
  readonly code: string;
  readonly name: string;
  readonly message: string;
  readonly stack?: string | undefined;
  /** For `ERR_REMOTE`: the thrown value's own code property, if it had one. */
  readonly remoteCode?: string | number | undefined;
}

/** True when `code` is one of this package's stable codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ErrorCodes, code);
}

/**
 * Serialises any thrown value for the wire: under its own code if `keepsOwnCode` picks it (by
 * default, an error of this package), else under `fallbackCode`, its own code kept as `remoteCode`.
 */
export function errorToWire(
  error: unknown,
  fallbackCode: ErrorCode = 'ERR_REMOTE',
  keepsOwnCode = (error: Error): error is Error & { readonly code: string } => error instanceof LoopbackSingletonError,
): WireError {
  if (error instanceof Error) {
    if (keepsOwnCode(error)) return { code: error.code, name: error.name, message: error.message, stack: error.stack };
    const own = (error as { code?: unknown }).code;
    return {
      code: fallbackCode,
      name: error.name,
      message: error.message,
      stack: error.stack,
      remoteCode: typeof own === 'string' || typeof own === 'number' ? own : undefined,
    };
  }
  return { code: fallbackCode, name: 'Error', message: describeThrown(error), stack: undefined };
}

/**
 * Serialises what a hosted method threw: always `ERR_REMOTE`, whatever the thrown value is
 * (even one of this package's own errors: the call did run), its own code kept aside.
 */
export function remoteErrorToWire(error: unknown): WireError {
  if (error instanceof Error) {
    // Hosted code may throw anything shaped like an Error: read each field defensively
    // (a getter may throw, a name may be a symbol) so the reply is always sendable.
    const own = readField(error, 'code');
    const stack = readField(error, 'stack');
    return {
      code: 'ERR_REMOTE',
      name: asText(readField(error, 'name'), 'Error'),
      message: asText(readField(error, 'message'), ''),
      stack: typeof stack === 'string' ? stack : undefined,
      remoteCode: typeof own === 'string' || typeof own === 'number' ? own : undefined,
    };
  }
  return { code: 'ERR_REMOTE', name: 'Error', message: describeThrown(error), stack: undefined };
}

function readField(target: object, key: string): unknown {
  try {
    return (target as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

function asText(value: unknown, fallback: string): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return fallback;
  try {
    return String(value);
  } catch {
    return fallback;
  }
}

/** Rebuilds an error received from the wire as the class its code names. */
export function errorFromWire(wire: WireError): LoopbackSingletonError {
  const code: ErrorCode = isErrorCode(wire.code) ? wire.code : 'ERR_LOOPBACK_SINGLETON';
  if (code === 'ERR_REMOTE') {
    return new RemoteError({
      remoteName: wire.name,
      remoteMessage: wire.message,
      remoteStack: wire.stack,
      remoteCode: wire.remoteCode,
    });
  }
  if (code === 'ERR_FACTORY') {
    return new FactoryError(wire.message, {
      code,
      remoteName: wire.name,
      remoteStack: wire.stack,
      remoteCode: wire.remoteCode,
    });
  }
  const Class = classes[ErrorCodes[code]];
  return new Class(wire.message, { code });
}

function describeThrown(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return `non-Error value thrown: ${JSON.stringify(value) ?? String(value)}`;
  } catch {
    return `non-Error value thrown: ${String(value)}`;
  }
}
