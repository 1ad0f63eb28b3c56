/**
 * Creating and vetting a runtime directory: mode 0700, never a symlink, never someone
 * else's. Everything that trusts the token or the metadata first goes through here.
 */
import { chmodSync, lstatSync, mkdirSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { LoopbackSingletonError } from '../errors.js';

const currentUid = typeof process.getuid === 'function' ? process.getuid() : undefined;

/**
 * Makes sure `dir` exists as a private directory of the current user.
 * @throws {LoopbackSingletonError} when `dir` is a symlink, not a directory, or owned by
 *   another user.
 */
export function ensurePrivateDir(dir: string): void {
  // The common case, every connect: it is already there and private. One lstat, where the
  // mkdir calls below cost several syscalls (and an EEXIST each).
  const existing = lstatSync(dir, { throwIfNoEntry: false });
  if (existing !== undefined && isPrivateDir(existing)) return;
  mkdirSync(dirname(dir), { recursive: true, mode: 0o700 });
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const stat = lstatSync(dir);
  if (stat.isSymbolicLink()) {
    throw new LoopbackSingletonError(
      `Runtime directory ${dir} is a symlink; refusing to use it. Remove it, or pass another runtimeDir`,
    );
  }
  if (!stat.isDirectory()) {
    throw new LoopbackSingletonError(`Runtime directory ${dir} exists but is not a directory; remove it`);
  }
  if (currentUid !== undefined && stat.uid !== currentUid) {
    throw new LoopbackSingletonError(
      `Runtime directory ${dir} is owned by uid ${stat.uid}, not by you (uid ${currentUid}); refusing to use it. Pass a runtimeDir of your own`,
    );
  }
  // Someone (or an umask-less mkdir elsewhere) opened it up: the token must stay private.
  if (process.platform !== 'win32' && (stat.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

/** A directory (not a symlink) of the current user that nobody else may enter. */
function isPrivateDir(stat: Stats): boolean {
  return (
    stat.isDirectory() &&
    (currentUid === undefined || stat.uid === currentUid) &&
    (process.platform === 'win32' || (stat.mode & 0o077) === 0)
  );
}
