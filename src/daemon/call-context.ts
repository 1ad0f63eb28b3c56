/**
 * What hosted code may know about the call it is serving: {@link callSignal}, the signal that
 * aborts when the caller gives up. Hosted code imports it from `loopback-singleton/daemon`;
 * the mailbox lends it the call running now.
 *
 * No AsyncLocalStorage: the mailbox runs one call at a time, so "the current call" is simply
 * the one it runs, from the method's first line until its promise settles. That costs the
 * hot path nothing (the mailbox already tracks its running call) and the signal itself is made
 * only when a method asks for it or its caller cancels.
 */

/** The mailbox's side: the signal of the call running now, if one runs. */
export interface CallSignalSource {
  currentSignal(): AbortSignal | undefined;
}

/**
 * The source lives on `globalThis` under a registered symbol, not in a module variable:
 * hosted code may import another copy of this package than the one the daemon runs (two
 * versions in a monorepo), and both copies must find the same mailbox.
 */
const SOURCE = Symbol.for('loopback-singleton.call-signal-source');

type Slot = { [SOURCE]?: CallSignalSource };

/** Never aborts: what a method sees outside a daemon (its own unit tests) or outside a call. */
const NEVER = new AbortController().signal;

/** Called once by the daemon's mailbox. */
export function provideCallSignal(source: CallSignalSource): void {
  (globalThis as Slot)[SOURCE] = source;
}

/**
 * The signal of the call the hosted object is serving now: it aborts, with a
 * `LoopbackSingletonError` of code `ERR_CALL_CANCELLED`, when the caller gives up (its
 * `AbortSignal` aborted or its `timeoutMs` / `callTimeoutMs` passed). Read it while your
 * method runs (any time before its promise settles) and keep it; work that outlives the call
 * must not call it later, for by then it names another call. Outside a daemon, or when no call
 * runs, it returns a signal that never aborts.
 * @example
 * import { callSignal } from 'loopback-singleton/daemon';
 * export class Search {
 *   async run(query) {
 *     const signal = callSignal();
 *     for (const shard of this.shards) {
 *       signal.throwIfAborted(); // the caller gave up: stop early
 *       await shard.scan(query, { signal });
 *     }
 *   }
 * }
 */
export function callSignal(): AbortSignal {
  return (globalThis as Slot)[SOURCE]?.currentSignal() ?? NEVER;
}
