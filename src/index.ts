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
  RegistryError,
  RemoteError,
  RestartLimitError,
  type ErrorCode,
  type RemoteErrorDetails,
} from './errors.js';
export type { DaemonInfo, DaemonMetadata, RuntimePaths, Transport } from './types.js';
export { localSingleton, LocalSingletonService, type ShutdownOptions } from './client/service.js';
export { callRemote, closeRemote, withCallOptions, type PublicMethodNames, type Remote, type RemoteIterable } from './client/proxy.js';
export type { CannotCross, Crossed } from './client/crossing.js';
export type { CallOptions } from './client/connection.js';
export { remoteEvents, type RemoteEvents } from './client/events.js';
export type { SubscribeOptions, Subscription } from './client/subscription.js';
export type { FactoryReference } from './client/factory-ref.js';
export { enableCompileCache, type CompileCacheResult } from './compile-cache.js';
export { DEFAULT_OPTIONS, type LocalSingletonOptions } from './options.js';
export type { ClusterTls } from './cluster-options.js';
export { PACKAGE_VERSION, PROTOCOL_VERSION } from './version.js';
