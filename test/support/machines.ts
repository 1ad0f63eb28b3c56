/**
 * For the statechart tests (test/machines/): effects the test settles by hand, and a way to
 * let settled effects reach the machine while vitest's fake clock stands still.
 */
import { vi } from 'vitest';

/** A promise and the functions that settle it. */
export interface Deferred<T = void> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Lets promise actors settle and their results reach the machine, without moving the (fake) clock. */
export async function settle(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}
