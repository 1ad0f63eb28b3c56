/**
 * `loopback-singleton/daemon`: what hosted code (the object the daemon serves) may import.
 * Explicit named re-exports, one module per concept.
 */
export { callSignal } from './call-context.js';
export { awaitOutside } from './outside.js';
export { fencingToken } from './fencing.js';
export type { CallRecord, CallOutcome } from './call-records.js';
