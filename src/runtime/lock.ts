/**
 * The spawn lock: the directory proper-lockfile creates at `paths.lock` while a start is in
 * progress. The only place proper-lockfile is used.
 *
 * A lock whose holder lives is never taken over, whatever its mtime or the wall clock say.
 * Right after taking the lock the holder writes its record, {@link HOLDER_FILE} (pid and
 * process start time), inside the lock directory. proper-lockfile's own staleness (mtime
 * against `Date.now()`, which a clock step of an hour turns into a verdict) is switched off
 * with the largest `stale` it accepts (~24.8 days; its refresh, and so its `onCompromised`
 * check, runs only every half of that), and a waiter that finds the lock taken judges it:
 *
 * - a holder record naming a process that runs (pid and start time): held, wait;
 * - a holder record naming a dead process (or a pid now used by another process): stale;
 * - no (readable, valid) holder record: the holder may be between its mkdir and its record, or
 *   be an older version that only refreshed the mtime. Stale only once this waiter has itself
 *   seen the same directory, unchanged (inode and mtime), for {@link LOCK_STALE_MS} on the
 *   monotonic clock;
 * - a failed read of the record or of /proc (EMFILE...): no verdict, the attempt fails.
 *
 * A stale lock is removed under a small reclaim mutex (`spawn.lock.reclaim`, itself judged
 * the same way when left behind), after judging it again: two waiters that both found it
 * stale never remove the fresh lock one of them took meanwhile.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, renameSync, rmSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import type { RuntimePaths } from '../types.js';
import { loadOwnModule, localFaultError } from './local-fault.js';
import { readSmallFile, replacePrivateFile } from './private-file.js';
import { isSameProcess, processStartTime } from './process.js';
import { sleep } from './sleep.js';

/** A lock without a holder record, seen unchanged this long (monotonic) by a waiter, is stale. */
export const LOCK_STALE_MS = 3000;

/** proper-lockfile's `stale`: as large as its timers allow, so that it never decides. */
const NEVER_STALE_MS = 0x7fffffff;

/** The holder's record inside the lock directory. */
export const HOLDER_FILE = 'holder.json';

/** How often a waiter tries again. */
const RETRY_MS = 15;

/** A held lock. */
export interface HeldLock {
  /** Releases the lock; never throws (a compromised lock is already gone). Idempotent. */
  release(): Promise<void>;
  /** Set when proper-lockfile found the lock taken over while held. */
  readonly compromised: Error | undefined;
}

type LockFn = typeof import('proper-lockfile').lock;
let lockFn: LockFn | undefined;

// proper-lockfile (and graceful-fs under it) load only when a start actually needs the lock,
// never on the warm path of connecting to a running daemon.
async function loadLock(): Promise<LockFn> {
  if (!lockFn) lockFn = (await loadOwnModule('proper-lockfile', () => import('proper-lockfile'))).default.lock;
  return lockFn;
}

/** What a waiter makes of a lock directory it found. */
type Verdict = 'gone' | 'held' | 'stale';

/** A waiter's observation of a lock without a holder record: which directory, in which state, since when (monotonic). */
interface Sighting {
  readonly key: string;
  readonly since: number;
}

/** Judges the lock directory at `path` (see the header). @throws when it cannot be judged (not a directory, EMFILE...). */
function judge(path: string, seen: Map<string, Sighting>): Verdict {
  let stats: BigIntStats | undefined;
  try {
    stats = lstatSync(path, { bigint: true, throwIfNoEntry: false });
  } catch (error) {
    throw localFaultError(`look at the spawn lock ${path}`, error);
  }
  if (stats === undefined) return 'gone';
  if (!stats.isDirectory()) {
    throw Object.assign(new Error(`ENOTDIR: the spawn lock ${path} is not a directory; remove it (no start is in progress)`), { code: 'ENOTDIR', path });
  }
  const holder = readHolder(join(path, HOLDER_FILE));
  if (holder !== undefined) return isSameProcess(holder.pid, holder.startTime) ? 'held' : 'stale';
  const key = `${stats.ino}:${stats.mtimeNs}`;
  const now = performance.now();
  const sighting = seen.get(path);
  if (sighting?.key !== key) {
    seen.set(path, { key, since: now });
    return 'held';
  }
  return now - sighting.since >= LOCK_STALE_MS ? 'stale' : 'held';
}

/** The holder record at `path`, or undefined when there is none (or only a partial one). @throws when the read fails. */
function readHolder(path: string): { pid: number; startTime: string | undefined } | undefined {
  const file = readSmallFile(path, 1024);
  if (file.status === 'unreadable') throw localFaultError(`read the spawn lock's holder ${path}`, file.error);
  if (file.status !== 'read') return undefined;
  try {
    const { pid, startTime } = JSON.parse(file.bytes.toString('utf8')) as { pid?: unknown; startTime?: unknown };
    if (!Number.isSafeInteger(pid) || (pid as number) <= 0) return undefined;
    return { pid: pid as number, startTime: typeof startTime === 'string' ? startTime : undefined };
  } catch {
    return undefined;
  }
}

/**
 * Removes the lock at `lock` if it is still stale when judged again under the reclaim mutex.
 * Returns whether it is gone; false when another waiter is reclaiming it right now.
 */
function reclaim(lock: string, seen: Map<string, Sighting>): boolean {
  const mutex = `${lock}.reclaim`;
  try {
    mkdirSync(mutex, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // Left behind by a reclaimer killed midway: judged like a lock without a holder record.
    if (judge(mutex, seen) === 'stale') rmSync(mutex, { recursive: true, force: true });
    return false;
  }
  try {
    const verdict = judge(lock, seen);
    if (verdict !== 'stale') return verdict === 'gone';
    // Renamed away first, so that nobody ever sees a half-removed lock directory. A `.tmp`
    // name: a reclaimer killed before the removal leaves what the next start cleans up.
    const grave = `${lock}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    renameSync(lock, grave);
    rmSync(grave, { recursive: true, force: true });
    return true;
  } finally {
    rmSync(mutex, { recursive: true, force: true });
  }
}

/**
 * Waits for the spawn lock until it is held, `shouldStopWaiting()` returns true (checked
 * between tries: for example a daemon got published meanwhile), or `signal` aborts.
 * Resolves with the held lock, or undefined when it stopped waiting.
 * @throws when the lock cannot be judged (see the header): a failed read decides nothing.
 */
export async function acquireSpawnLock(paths: RuntimePaths, shouldStopWaiting: () => boolean, signal: AbortSignal): Promise<HeldLock | undefined> {
  const lock = await loadLock();
  const seen = new Map<string, Sighting>();
  for (;;) {
    signal.throwIfAborted();
    let compromised: Error | undefined;
    try {
      const release = await lock(join(paths.dir, 'spawn'), {
        lockfilePath: paths.lock,
        realpath: false,
        stale: NEVER_STALE_MS,
        retries: 0,
        // The default handler throws from a timer and crashes the host process.
        onCompromised: (error) => {
          compromised = error;
        },
      });
      const holder = join(paths.lock, HOLDER_FILE);
      let released = false;
      const held: HeldLock = {
        get compromised() {
          return compromised;
        },
        async release() {
          if (released) return;
          released = true;
          // proper-lockfile removes the directory with rmdir: it must be empty.
          rmSync(holder, { force: true });
          try {
            await release();
          } catch {
            // already released or compromised: nothing of ours is left to remove
          }
        },
      };
      try {
        replacePrivateFile(holder, JSON.stringify({ pid: process.pid, startTime: processStartTime(process.pid) }));
      } catch (error) {
        await held.release();
        throw error;
      }
      if (signal.aborted) {
        await held.release();
        signal.throwIfAborted();
      }
      return held;
    } catch (error) {
      // ENOTEMPTY: proper-lockfile found the mtime older than even NEVER_STALE_MS (a clock set
      // weeks ahead) and could not rmdir it, as the holder record is inside: judged below.
      const { code } = error as NodeJS.ErrnoException;
      if (code !== 'ELOCKED' && code !== 'ENOTEMPTY') throw error;
    }
    const verdict = judge(paths.lock, seen);
    if (verdict === 'gone' || (verdict === 'stale' && reclaim(paths.lock, seen))) continue;
    if (shouldStopWaiting()) return undefined;
    await sleep(RETRY_MS + Math.random() * RETRY_MS);
  }
}

/** What the spawn lock looks like now (see {@link lookAtSpawnLock}). */
export type LockSight =
  | { readonly state: 'absent' }
  | { readonly state: 'notDirectory' }
  | { readonly state: 'held'; readonly pid: number; readonly running: boolean }
  | { readonly state: 'anonymous'; readonly ageMs: number }
  | { readonly state: 'unknown'; readonly error: unknown };

/** The spawn lock as it is now: absent, not a directory, held by a recorded process (running or not), without a holder record, or unreadable. Never throws. */
export function lookAtSpawnLock(paths: RuntimePaths): LockSight {
  try {
    const stats = lstatSync(paths.lock, { throwIfNoEntry: false });
    if (stats === undefined) return { state: 'absent' };
    if (!stats.isDirectory()) return { state: 'notDirectory' };
    const holder = readHolder(join(paths.lock, HOLDER_FILE));
    if (holder !== undefined) return { state: 'held', pid: holder.pid, running: isSameProcess(holder.pid, holder.startTime) };
    return { state: 'anonymous', ageMs: Math.max(0, Date.now() - stats.mtimeMs) };
  } catch (error) {
    return { state: 'unknown', error };
  }
}

/**
 * Whether a start holds the spawn lock now, for the CLI: a lock whose holder record names a
 * running process, or one without a record whose mtime is recent (a holder between its mkdir
 * and its record, or an older version: a hint for a person, never a reason to take it over).
 * Never throws: what cannot be told is said held, so that nothing is removed on it.
 */
export function isSpawnLockHeld(paths: RuntimePaths): boolean {
  const sight = lookAtSpawnLock(paths);
  switch (sight.state) {
    case 'absent':
    case 'notDirectory':
      return false;
    case 'held':
      return sight.running;
    case 'anonymous':
      return sight.ageMs < LOCK_STALE_MS;
    default:
      return true;
  }
}

/**
 * The spawn lock now, in words, for the error of a start that waited for it: who holds it
 * (this process, another running one, a dead one), or that it has no holder record.
 */
export function describeSpawnLock(paths: RuntimePaths): string {
  const sight = lookAtSpawnLock(paths);
  switch (sight.state) {
    case 'absent':
      return `the spawn lock ${paths.lock} is free now`;
    case 'notDirectory':
      return `${paths.lock} is not a directory; remove it (no start is in progress)`;
    case 'held': {
      const who = sight.pid === process.pid ? 'this process' : `pid ${sight.pid}`;
      return sight.running
        ? `the spawn lock ${paths.lock} is held by ${who}, which is starting the daemon`
        : `the spawn lock ${paths.lock} names pid ${sight.pid}, which has exited: it is stale and the next start reclaims it`;
    }
    case 'anonymous':
      return (
        `the spawn lock ${paths.lock} has no holder record (last changed ${Math.round(sight.ageMs)} ms ago): ` +
        `a start between taking it and recording itself, or one that died then (reclaimed ${LOCK_STALE_MS} ms after it is first seen unchanged)`
      );
    default:
      return `the spawn lock ${paths.lock} could not be looked at (${(sight.error as Error)?.message ?? String(sight.error)})`;
  }
}
