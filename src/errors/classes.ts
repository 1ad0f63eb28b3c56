/**
 * The error classes, in the tree the README shows (Errors). Each class has a default `code`
 * (./codes.ts); a few situations carry a more specific code on the same class (for example a
 * `HandshakeError` with `ERR_AUTH_FAILED`).
 */
import type { ErrorCode, ErrorCodes } from './codes.js';

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
 * `scope: 'cluster'`: the registry where daemons are recorded (etcd) could not be reached, had
 * no quorum, or failed a request within its timeout. A `ConnectionFailedError`, as what it
 * stopped is reaching the daemon: code that handles those (a supervised proxy, a caller's
 * `instanceof ConnectionFailedError`) handles it the same way. Its message names the endpoints
 * and what to check; `registry` is the endpoint list where known (not across the wire).
 * @example
 * try {
 *   await svc.ensureStarted();
 * } catch (error) {
 *   if (error instanceof RegistryError) console.error(`etcd is down (${error.registry}): ${error.message}`);
 * }
 */
export class RegistryError extends ConnectionFailedError {
  static override defaultCode: ErrorCode = 'ERR_REGISTRY_UNAVAILABLE';
  /** The registry's endpoint list in its canonical form (`etcd://127.0.0.1:2379,...`), when known. */
  readonly registry: string | undefined;

  constructor(message: string, options: LoopbackSingletonErrorOptions & { registry?: string | undefined } = {}) {
    super(message, options);
    this.registry = options.registry;
  }
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

/** Every class, by the name {@link ErrorCodes} gives it: what a code is rebuilt as (./wire.ts). */
export const ERROR_CLASSES = {
  LoopbackSingletonError,
  DaemonConnectionError,
  ConnectionFailedError,
  RegistryError,
  HandshakeError,
  RestartLimitError,
  ProtocolError,
  FactoryMismatchError,
  FactoryError,
  MethodNotAllowedError,
  MailboxFullError,
  RemoteError,
} as const;
