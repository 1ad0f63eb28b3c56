/**
 * What a service needs once it reaches for its daemon: the start and connect statecharts
 * (xstate), the sockets and the wire, the spawn lock, supervision and stopping. Loaded by
 * ./service.ts on its first `proxy()`, `ensureStarted()`, `ping()` or `shutdown()`, not
 * when the package is imported: an import stays cheap, and a compile cache turned on after
 * it (`enableCompileCache()`, ../compile-cache.ts) covers all of this.
 */
export { connectTo, settledMetadata } from './reach.js';
export { connectOrStart } from './starter.js';
export { SupervisedConnection } from './supervised.js';
export { drainDaemon, isSignallable, killDaemon } from './terminate.js';
