import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import lockfile from 'proper-lockfile';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireSpawnLock, describeSpawnLock, HOLDER_FILE, isSpawnLockHeld, LOCK_STALE_MS, lookAtSpawnLock } from '../../src/runtime/lock.js';
import { runtimePaths } from '../../src/runtime/paths.js';
import { processStartTime } from '../../src/runtime/process.js';
import type { RuntimePaths } from '../../src/types.js';

let temp: string;
let paths: RuntimePaths;

beforeEach(() => {
  temp = mkdtempSync(join(tmpdir(), 'lbs-lock-'));
  paths = runtimePaths(temp, 'svc');
  mkdirSync(paths.dir, { mode: 0o700 });
});

afterEach(() => {
  rmSync(temp, { recursive: true, force: true });
});

/** A pid that certainly belongs to no process any more. */
function exitedPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

/** Leaves a lock directory as a holder `pid` would, its mtime `ageMs` in the past. */
function plantLock(holder: { pid: number; startTime: string | undefined } | undefined, ageMs: number): void {
  mkdirSync(paths.lock);
  if (holder) writeFileSync(join(paths.lock, HOLDER_FILE), JSON.stringify(holder), { mode: 0o600 });
  const past = (Date.now() - ageMs) / 1000;
  utimesSync(paths.lock, past, past);
}

const never = () => false;

/** Tries to take the lock for `ms`; resolves with what happened. */
async function tryFor(ms: number): Promise<'acquired' | 'still held'> {
  try {
    const held = await acquireSpawnLock(paths, never, AbortSignal.timeout(ms));
    await held!.release();
    return 'acquired';
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') return 'still held';
    throw error;
  }
}

describe('the spawn lock records its holder', () => {
  it('while held, holder.json names this process (pid and start time); released, nothing is left', async () => {
    const held = await acquireSpawnLock(paths, never, AbortSignal.timeout(10_000));
    expect(JSON.parse(readFileSync(join(paths.lock, HOLDER_FILE), 'utf8'))).toEqual({ pid: process.pid, startTime: processStartTime(process.pid) });
    expect(isSpawnLockHeld(paths)).toBe(true);
    await held!.release();
    expect(existsSync(paths.lock)).toBe(false);
    expect(readdirSync(paths.dir)).toEqual([]);
  });

  it('a lock whose recorded holder is dead is reclaimed', async () => {
    plantLock({ pid: exitedPid(), startTime: undefined }, 0);
    expect(isSpawnLockHeld(paths)).toBe(false);
    expect(await tryFor(20_000)).toBe('acquired');
    expect(readdirSync(paths.dir)).toEqual([]);
  });

  it('a lock whose recorded pid now belongs to another process (another start time) is reclaimed', async () => {
    plantLock({ pid: process.ppid, startTime: 'another-boot:1' }, 0);
    expect(await tryFor(20_000)).toBe('acquired');
  });

  it.each([
    ['an hour', 3_600_000],
    ['a year', 365 * 86_400_000],
  ])('a lock whose holder lives is not taken over, though its mtime is %s old', async (_label, ageMs) => {
    const holder = { pid: process.ppid, startTime: processStartTime(process.ppid) };
    plantLock(holder, ageMs);
    expect(await tryFor(LOCK_STALE_MS + 2000)).toBe('still held');
    expect(JSON.parse(readFileSync(join(paths.lock, HOLDER_FILE), 'utf8'))).toEqual(holder);
    expect(isSpawnLockHeld(paths)).toBe(true);
  });

  it('a lock without a holder record (killed between mkdir and record, or an older version) is reclaimed once this waiter has seen it unchanged long enough', async () => {
    plantLock(undefined, 0);
    expect(await tryFor(LOCK_STALE_MS + 15_000)).toBe('acquired');
  });

  it('an older version holding the lock (no record, but a refreshed mtime) is not taken over', async () => {
    const release = await lockfile.lock(join(paths.dir, 'spawn'), { lockfilePath: paths.lock, realpath: false, stale: 3000 });
    try {
      expect(await tryFor(2 * LOCK_STALE_MS + 1000)).toBe('still held');
    } finally {
      await release();
    }
  });

  it('a regular file at the lock path is an error, not a lock to wait on or remove', async () => {
    writeFileSync(paths.lock, 'not a lock directory');
    await expect(acquireSpawnLock(paths, never, AbortSignal.timeout(10_000))).rejects.toMatchObject({ code: 'ENOTDIR' });
    expect(readFileSync(paths.lock, 'utf8')).toBe('not a lock directory');
  });
});

describe('what a start that waited for the lock says about it', () => {
  it('free: absent, and the words say so', () => {
    expect(lookAtSpawnLock(paths)).toEqual({ state: 'absent' });
    expect(describeSpawnLock(paths)).toContain('is free now');
  });

  it('held by this process while a start holds it', async () => {
    const held = await acquireSpawnLock(paths, never, AbortSignal.timeout(10_000));
    try {
      expect(lookAtSpawnLock(paths)).toEqual({ state: 'held', pid: process.pid, running: true });
      expect(describeSpawnLock(paths)).toContain('is held by this process, which is starting the daemon');
    } finally {
      await held!.release();
    }
  });

  it('held by another running process, named by its pid', () => {
    plantLock({ pid: process.ppid, startTime: processStartTime(process.ppid) }, 0);
    expect(lookAtSpawnLock(paths)).toEqual({ state: 'held', pid: process.ppid, running: true });
    expect(describeSpawnLock(paths)).toContain(`is held by pid ${process.ppid}, which is starting the daemon`);
  });

  it('naming a process that has exited: stale', () => {
    const pid = exitedPid();
    plantLock({ pid, startTime: undefined }, 0);
    expect(lookAtSpawnLock(paths)).toEqual({ state: 'held', pid, running: false });
    expect(describeSpawnLock(paths)).toContain(`names pid ${pid}, which has exited`);
  });

  it('without a holder record: its age', () => {
    plantLock(undefined, 60_000);
    const sight = lookAtSpawnLock(paths);
    expect(sight.state).toBe('anonymous');
    expect(sight.state === 'anonymous' && sight.ageMs).toBeGreaterThanOrEqual(59_000);
    expect(describeSpawnLock(paths)).toContain('has no holder record');
    expect(isSpawnLockHeld(paths)).toBe(false);
  });

  it('a regular file at the lock path: not a directory, to be removed', () => {
    writeFileSync(paths.lock, 'not a lock directory');
    expect(lookAtSpawnLock(paths)).toEqual({ state: 'notDirectory' });
    expect(describeSpawnLock(paths)).toContain('is not a directory; remove it');
    expect(isSpawnLockHeld(paths)).toBe(false);
  });
});

describe('a spawn lock that cannot be looked at, a reclaimer killed midway, an abort once held', () => {
  it('a lock path that cannot even be looked at (ENAMETOOLONG): unknown, said held so nothing is removed on it, and why in words', () => {
    const unreachable = { ...paths, lock: join(paths.dir, 'x'.repeat(300)) };
    const sight = lookAtSpawnLock(unreachable);
    expect(sight.state).toBe('unknown');
    expect(sight.state === 'unknown' && (sight.error as NodeJS.ErrnoException).code).toBe('ENAMETOOLONG');
    expect(isSpawnLockHeld(unreachable)).toBe(true);
    expect(describeSpawnLock(unreachable)).toMatch(/^the spawn lock .*x{300} could not be looked at \(ENAMETOOLONG: /);
  });

  it('a holder record that is no record (not JSON, a pid that is no pid, a directory): a lock without a holder', () => {
    for (const content of ['not json', '{"pid": 0}', '{"pid": -3}', '{"pid": 1.5}', '{"pid": "12"}', '{}']) {
      rmSync(paths.lock, { recursive: true, force: true });
      plantLock(undefined, 0);
      writeFileSync(join(paths.lock, HOLDER_FILE), content, { mode: 0o600 });
      expect([content, lookAtSpawnLock(paths).state]).toEqual([content, 'anonymous']);
      expect(isSpawnLockHeld(paths)).toBe(true);
    }
    rmSync(paths.lock, { recursive: true, force: true });
    plantLock(undefined, 0);
    mkdirSync(join(paths.lock, HOLDER_FILE));
    expect(lookAtSpawnLock(paths).state).toBe('anonymous');
    // A start time that is not a string is no start time: a live pid is then taken as running.
    rmSync(paths.lock, { recursive: true, force: true });
    plantLock({ pid: process.ppid, startTime: 42 as unknown as string }, 0);
    expect(lookAtSpawnLock(paths)).toEqual({ state: 'held', pid: process.ppid, running: true });
  });

  it('a stale lock behind a reclaim mutex left by a killed reclaimer: the mutex is judged like a lock, removed once stale, and the lock taken', async () => {
    plantLock({ pid: exitedPid(), startTime: undefined }, 0);
    mkdirSync(`${paths.lock}.reclaim`);
    const held = await acquireSpawnLock(paths, never, AbortSignal.timeout(LOCK_STALE_MS * 4));
    try {
      expect(held).toBeDefined();
      expect(existsSync(`${paths.lock}.reclaim`)).toBe(false);
      expect(JSON.parse(readFileSync(join(paths.lock, HOLDER_FILE), 'utf8'))).toMatchObject({ pid: process.pid });
    } finally {
      await held?.release();
    }
    expect(existsSync(paths.lock)).toBe(false);
  });

  it('aborted while the lock is being taken: rejects with the reason, and leaves no lock behind', async () => {
    // Loaded once, so the next try reaches the lock itself before the abort.
    await (await acquireSpawnLock(paths, never, AbortSignal.timeout(10_000)))!.release();
    const controller = new AbortController();
    const pending = acquireSpawnLock(paths, never, controller.signal);
    for (let i = 0; i < 10; i++) await null;
    const reason = new Error('given up');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(existsSync(paths.lock)).toBe(false);
  });
});
