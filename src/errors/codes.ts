/**
 * The stable error codes: each names the class that carries it (see ./classes.ts). Codes are
 * public API and never change meaning.
 */

/** Every stable error code this package uses, with the class that carries it. */
export const ErrorCodes = {
  /** Generic library failure (base class). */
  ERR_LOOPBACK_SINGLETON: 'LoopbackSingletonError',
  /** Queued call dropped because the daemon was shut down with `force`. */
  ERR_SHUTDOWN_FORCED: 'LoopbackSingletonError',
  /**
   * The caller stopped waiting (`callTimeoutMs`), or its deadline had passed when the call's
   * turn came: a call that had not started is withdrawn and never runs.
   */
  ERR_CALL_TIMEOUT: 'LoopbackSingletonError',
  /**
   * The caller gave up (a `cancel` message): the call had not started, was withdrawn and never
   * ran; also the reason a running call's `callSignal()` aborts with.
   */
  ERR_CALL_CANCELLED: 'LoopbackSingletonError',
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
  /**
   * `scope: 'cluster'`: the registry (etcd) could not be reached, had no quorum, or failed a
   * request within its timeout; the message names the endpoints and what to check. Nothing was
   * started or cleaned up on it.
   */
  ERR_REGISTRY_UNAVAILABLE: 'RegistryError',
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

/** True when `code` is one of this package's stable codes. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ErrorCodes, code);
}
