/**
 * Creating and vetting a runtime directory: mode 0700, never a symlink, never someone
 * else's. Everything that trusts the token or the metadata first goes through here.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, type Stats } from 'node:fs';
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
  try {
    makeParents(dirname(dir));
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    // The fs error itself (its code, EROFS, EACCES, ENOSPC..., is what callers test), said plainly.
    e.message = `Cannot create the runtime directory ${dir}: ${e.message}. Pass a runtimeDir (or LOOPBACK_SINGLETON_RUNTIME_DIR) on a writable file system`;
    throw e;
  }
  const stat = lstatSync(dir);
  if (stat.isSymbolicLink()) {
    throw new LoopbackSingletonError(`Runtime directory ${dir} is a symlink; refusing to use it. Remove it, or pass another runtimeDir`);
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

/**
 * `mkdir -p`, with the real reason when it fails: a recursive mkdir reports ENOENT when a
 * missing ancestor cannot be created (on a read-only file system, say), so the first
 * missing ancestor is then created alone, and its error (EROFS, EACCES) is the one thrown.
 */
export function makeParents(path: string, mkdir: typeof mkdirSync = mkdirSync, exists: (path: string) => boolean = existsSync): void {
  try {
    mkdir(path, { recursive: true, mode: 0o700 });
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    let missing = path;
    while (dirname(missing) !== missing && !exists(dirname(missing))) missing = dirname(missing);
    try {
      mkdir(missing, { mode: 0o700 });
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw cause;
    }
  }
  // Created meanwhile (or by the call above): once more, for the rest of the path.
  mkdir(path, { recursive: true, mode: 0o700 });
}

/** A directory (not a symlink) of the current user that nobody else may enter. */
function isPrivateDir(stat: Stats): boolean {
  return stat.isDirectory() && (currentUid === undefined || stat.uid === currentUid) && (process.platform === 'win32' || (stat.mode & 0o077) === 0);
}
