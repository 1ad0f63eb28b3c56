/**
 * `awaitOutside()`: how a stream's step waits for something outside the hosted object (an
 * event, a timer, a change another call makes) without holding the mailbox. Hosted code
 * imports it from `loopback-singleton/daemon` (./public.ts); the daemon's streams
 * (./stream.ts) give it its meaning. It imports nothing of the daemon's, so a hosted module
 * that imports it loads no more than this file.
 *
 * The running step is found through an AsyncLocalStorage kept on `globalThis` under a
 * registered symbol, so a hosted module that loads its own copy of the package still reaches
 * the daemon's streams.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** What the step running now offers the code inside it (./stream.ts). */
export interface StepScope {
  /** Ends the step's turn, awaits `promise`, and enters the mailbox again before resolving. */
  outside<T>(promise: PromiseLike<T> | T): Promise<T>;
}

const KEY = Symbol.for('loopback-singleton.stream-step');
const registry = globalThis as { [KEY]?: AsyncLocalStorage<StepScope> };
registry[KEY] ??= new AsyncLocalStorage<StepScope>();
const steps: AsyncLocalStorage<StepScope> = registry[KEY];

/**
 * Awaits `promise` without holding the mailbox, when called from a step of a stream (inside an
 * `async *` method, or `next()`/`return()` of an async iterable a method returned): the step's
 * turn ends here, other calls run while it waits, and the step enters the mailbox again (at
 * the tail of the queue) before this resolves or rejects, so the code after it never runs
 * beside another call. If the stream's consumer stops meanwhile, it rejects with an
 * `AbortError` (after entering the mailbox again), so the generator's `finally` runs.
 * Anywhere else (an ordinary method, a client) it is a plain `await`: a method holds its turn
 * until its promise settles.
 * @example
 * async *changes() {
 *   while (true) {
 *     await awaitOutside(this.#nextChange); // set() by another caller resolves it
 *     yield this.value;
 *   }
 * }
 */
export function awaitOutside<T>(promise: PromiseLike<T> | T): Promise<T> {
  const step = steps.getStore();
  return step === undefined ? Promise.resolve(promise) : step.outside(promise);
}

/** Runs `fn` (a step of a stream) with `scope` as the step that {@link awaitOutside} finds. */
export function inStep<R>(scope: StepScope, fn: () => R): R {
  return steps.run(scope, fn);
}
