/**
 * The small private files of a runtime dir (metadata.json, token): read so that whatever sits
 * at the path cannot hang or flood the reader, and written so that nobody ever sees half a
 * file and no temp file outlives a failed write.
 *
 * A read opens the path without following a symlink and without blocking (a FIFO with no
 * writer opens at once), checks the open file itself (fstat: no swap between check and read),
 * accepts a regular file only, refuses one over the cap before reading, and reads at most
 * cap + 1 bytes, so a file that grows meanwhile is refused too.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, renameSync, unlinkSync, writeSync, type BigIntStats } from 'node:fs';

// O_NOFOLLOW, O_NONBLOCK and O_NOCTTY are undefined on Windows. There a symlink is refused by
// an lstat before the open (a narrow race, where creating a symlink needs a privilege), and no
// FIFO or terminal can sit at a path.
const O_NOFOLLOW: number = constants.O_NOFOLLOW ?? 0;
// O_NOCTTY: the daemon leads its own session, and opening a terminal must not make it its own.
const READ_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | O_NOFOLLOW | (constants.O_NOCTTY ?? 0);

// Reads are synchronous, so one scratch buffer serves them all (allocating 16 KiB per read
// cost as much as the read itself); what was read is copied out.
let scratch = Buffer.allocUnsafe(0);

/**
 * Who a file is and what state it is in: device, inode, type and mode, owner, size, and the
 * change and modification times in nanoseconds. Any write, chmod, rename over or recreation
 * changes it, so an unchanged stamp means unchanged content.
 */
export type FileStamp = string & { readonly __brand: 'FileStamp' };

/** The outcome of reading a small private file. */
export type SmallFileRead =
  | { readonly status: 'read'; readonly bytes: Buffer; readonly stats: BigIntStats; readonly stamp: FileStamp }
  | { readonly status: 'absent' }
  /** Something other than a regular file (a FIFO, a symlink, a directory, a device...). */
  | { readonly status: 'notRegular'; readonly reason: string }
  | { readonly status: 'tooLarge'; readonly reason: string }
  /** The read itself failed (EACCES, EMFILE, EIO...): says nothing about the file. */
  | { readonly status: 'unreadable'; readonly error: NodeJS.ErrnoException };

/** The stamp of `stats` (see {@link FileStamp}). */
export function stampOf(stats: BigIntStats): FileStamp {
  return `${stats.dev}:${stats.ino}:${stats.mode}:${stats.uid}:${stats.size}:${stats.ctimeNs}:${stats.mtimeNs}` as FileStamp;
}

/** The stamp of whatever is at `path` now (a symlink is not followed), or undefined if nothing is. One lstat. */
export function currentStamp(path: string): FileStamp | undefined {
  try {
    const stats = lstatSync(path, { bigint: true, throwIfNoEntry: false });
    return stats === undefined ? undefined : stampOf(stats);
  } catch {
    // An lstat that fails (EACCES, ENOTDIR...) tells nothing: report a change, so the caller reads.
    return undefined;
  }
}

/**
 * Reads the regular file at `path` if it holds at most `maxBytes`. Never blocks and never
 * throws: everything that is not such a file is reported with a reason a person understands.
 */
export function readSmallFile(path: string, maxBytes: number): SmallFileRead {
  if (O_NOFOLLOW === 0) {
    let link: BigIntStats | undefined;
    try {
      link = lstatSync(path, { bigint: true, throwIfNoEntry: false });
    } catch (error) {
      return { status: 'unreadable', error: error as NodeJS.ErrnoException };
    }
    if (link === undefined) return { status: 'absent' };
    if (link.isSymbolicLink()) return { status: 'notRegular', reason: 'not a regular file (symlink)' };
  }
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (error) {
    return failedOpen(error as NodeJS.ErrnoException);
  }
  try {
    const stats = fstatSync(fd, { bigint: true });
    if (!stats.isFile()) return { status: 'notRegular', reason: `not a regular file (${kindOf(stats)})` };
    const tooLarge = { status: 'tooLarge', reason: `larger than ${formatBytes(maxBytes)} (${stats.size} bytes)` } as const;
    if (stats.size > BigInt(maxBytes)) return tooLarge;
    if (scratch.length < maxBytes + 1) scratch = Buffer.allocUnsafe(maxBytes + 1);
    const buffer = scratch.subarray(0, maxBytes + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    // It grew after the fstat.
    if (length > maxBytes) return { status: 'tooLarge', reason: `larger than ${formatBytes(maxBytes)}` };
    return { status: 'read', bytes: Buffer.from(buffer.subarray(0, length)), stats, stamp: stampOf(stats) };
  } catch (error) {
    return { status: 'unreadable', error: error as NodeJS.ErrnoException };
  } finally {
    closeSync(fd);
  }
}

function failedOpen(error: NodeJS.ErrnoException): SmallFileRead {
  switch (error.code) {
    case 'ENOENT':
      return { status: 'absent' };
    // O_NOFOLLOW on a symlink: ELOOP on Linux and macOS, EMLINK on FreeBSD.
    case 'ELOOP':
    case 'EMLINK':
      return { status: 'notRegular', reason: 'not a regular file (symlink)' };
    // A Unix socket cannot be opened.
    case 'ENXIO':
    case 'EOPNOTSUPP':
      return { status: 'notRegular', reason: 'not a regular file (socket)' };
    case 'EISDIR':
      return { status: 'notRegular', reason: 'not a regular file (directory)' };
    default:
      return { status: 'unreadable', error };
  }
}

function kindOf(stats: BigIntStats): string {
  if (stats.isFIFO()) return 'FIFO';
  if (stats.isDirectory()) return 'directory';
  if (stats.isSocket()) return 'socket';
  if (stats.isCharacterDevice()) return 'character device';
  if (stats.isBlockDevice()) return 'block device';
  return 'unknown type';
}

function formatBytes(bytes: number): string {
  return bytes % 1024 === 0 ? `${bytes / 1024} KiB` : `${bytes} bytes`;
}

/**
 * Writes `content` in full to a new private (0600) temp file beside `path` and returns its
 * name. On any failure (ENOSPC, EIO...) the temp file is removed before the error is thrown.
 */
export function writePrivateTemp(path: string, content: string | Uint8Array): string {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  const fd = openSync(temp, 'wx', 0o600);
  let open = true;
  try {
    let written = 0;
    while (written < bytes.length) written += writeSync(fd, bytes, written, bytes.length - written);
    open = false;
    closeSync(fd);
    return temp;
  } catch (error) {
    if (open) closeQuietly(fd);
    removeQuietly(temp);
    throw error;
  }
}

/** Replaces whatever is at `path` with a private file holding `content`, atomically (temp + rename). */
export function replacePrivateFile(path: string, content: string | Uint8Array): void {
  const temp = writePrivateTemp(path, content);
  try {
    renameSync(temp, path);
  } catch (error) {
    removeQuietly(temp);
    throw error;
  }
}

/** Removes `path` if it is there; never throws (for cleanup on a path already failing). */
export function removeQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // never created, already renamed or removed
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // the write already failed; that error is the one to report
  }
}
