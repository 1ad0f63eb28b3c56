/**
 * The spawn lock: the directory proper-lockfile creates at `paths.lock` while a start is in
 * progress. The only place proper-lockfile is used. Its mtime is refreshed while held, so
 * a holder that was SIGKILLed leaves a lock that turns stale after {@link LOCK_STALE_MS}
 * and is then reclaimed.
 */
import { join } from 'node:path';
import type { RuntimePaths } from '../types.js';

/** A lock older than this (not refreshed) belongs to a dead holder. proper-lockfile's minimum is 2 s. */
export const LOCK_STALE_MS = 3000;

/** How often a waiter tries again. */
const RETRY_MS = 15;

/** A held lock. */
export interface HeldLock {
  /** Releases the lock; never throws (a compromised lock is already gone). Idempotent. */
  release(): Promise<void>;
  /** Set when proper-lockfile found the lock taken over or unrefreshable while held. */
  readonly compromised: Error | undefined;
}

type LockFn = typeof import('proper-lockfile').lock;
let lockFn: LockFn | undefined;

// proper-lockfile (and graceful-fs under it) load only when a start actually needs the lock,
// never on the warm path of connecting to a running daemon.
async function loadLock(): Promise<LockFn> {
  if (!lockFn) lockFn = (await import('proper-lockfile')).default.lock;
  return lockFn;
}

/**
 * Waits for the spawn lock until it is held, `shouldStopWaiting()` returns true (checked
 * between tries: for example a daemon got published meanwhile), or `signal` aborts.
 * Resolves with the held lock, or undefined when it stopped waiting.
 */
export async function acquireSpawnLock(
  paths: RuntimePaths,
  shouldStopWaiting: () => boolean,
  signal: AbortSignal,
): Promise<HeldLock | undefined> {
  const lock = await loadLock();
  for (;;) {
    signal.throwIfAborted();
    let compromised: Error | undefined;
    try {
      const release = await lock(join(paths.dir, 'spawn'), {
        lockfilePath: paths.lock,
        realpath: false,
        stale: LOCK_STALE_MS,
        retries: 0,
        // The default handler throws from a timer and crashes the host process.
        onCompromised: (error) => {
          compromised = error;
        },
      });
      let released = false;
      const held: HeldLock = {
        get compromised() {
          return compromised;
        },
        async release() {
          if (released) return;
          released = true;
          try {
            await release();
          } catch {
            // already released or compromised: nothing of ours is left to remove
          }
        },
      };
      if (signal.aborted) {
        await held.release();
        signal.throwIfAborted();
      }
      return held;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
    }
    if (shouldStopWaiting()) return undefined;
    await new Promise((resolve) => setTimeout(resolve, RETRY_MS + Math.random() * RETRY_MS));
  }
}
