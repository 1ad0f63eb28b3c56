/**
 * loopback-singleton: one shared, live object for many local Node.js processes, hosted in
 * a supervised daemon on 127.0.0.1.
 */
export {
  ConnectionFailedError,
  DaemonConnectionError,
  ErrorCodes,
  FactoryError,
  FactoryMismatchError,
  HandshakeError,
  LoopbackSingletonError,
  MailboxFullError,
  MethodNotAllowedError,
  ProtocolError,
  RemoteError,
  type ErrorCode,
  type RemoteErrorDetails,
} from './errors.js';
export type { DaemonInfo, DaemonMetadata, RuntimePaths, Transport } from './types.js';
export { PACKAGE_VERSION, PROTOCOL_VERSION } from './version.js';
