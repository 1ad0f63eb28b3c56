/**
 * The per-user secret both sides prove they hold. Created once: written in full to a
 * private temp file, then hard-linked into place, which fails if another process won the
 * race. So a reader never sees a half-written token, and a failed write (ENOSPC) leaves no
 * temp file. Read safely (./private-file.ts): a FIFO, a symlink or a huge file at the path
 * is refused at once, and the owner and mode are checked on the opened file.
 *
 * A serving daemon is the token's authority: it restores its own secret when the file goes
 * missing or changes ({@link checkToken}, {@link restoreToken}).
 *
 * A read that fails (EMFILE, EACCES, EIO...) is not a missing or foreign token: nothing is
 * created or overwritten on it (see ./local-fault.ts).
 */
import { randomBytes } from 'node:crypto';
import { linkSync } from 'node:fs';
import { LoopbackSingletonError } from '../errors.js';
import { localFaultError } from './local-fault.js';
import { readSmallFile, removeQuietly, replacePrivateFile, writePrivateTemp, type FileStamp } from './private-file.js';

/** The token is 32 random bytes in lowercase hex. */
const TOKEN_LENGTH = 64;
const TOKEN_PATTERN = new RegExp(`^[0-9a-f]{${TOKEN_LENGTH}}$`);

const currentUid = typeof process.getuid === 'function' ? process.getuid() : undefined;

/**
 * Reads the token at `path`, creating it if absent (never over a file it could not read).
 * Returns the token's bytes (the key).
 * @throws as {@link readToken}; or the write's own error (ENOSPC...) when it cannot create it.
 */
export function loadOrCreateToken(path: string): Buffer {
  const existing = readToken(path);
  if (existing) return existing;
  const temp = writePrivateTemp(path, randomBytes(32).toString('hex'));
  try {
    linkSync(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    removeQuietly(temp);
  }
  const token = readToken(path);
  if (!token) throw new LoopbackSingletonError(`Token file ${path} vanished while it was being created`);
  return token;
}

/**
 * Reads an existing token, or undefined when there is none.
 * @throws {LoopbackSingletonError} when the file is not private to this user or malformed.
 * @throws {LoopbackSingletonError} naming the cause (see ./local-fault.ts) when the read
 *   itself fails (EACCES, EMFILE, EIO...), with that error as its `cause`.
 */
export function readToken(path: string): Buffer | undefined {
  const found = inspectToken(path);
  switch (found.status) {
    case 'absent':
      return undefined;
    case 'unreadable':
      throw localFaultError(`read the token file ${path}`, found.error);
    case 'exposed':
      throw new LoopbackSingletonError(
        `Token file ${path} is not a regular file of mode 0600 owned by you: ${found.reason}; the secret may be exposed. ` +
          'Stop the daemon and delete the file so a new one is made',
      );
    case 'malformed':
      throw new LoopbackSingletonError(`Token file ${path} is malformed: ${found.reason}; stop the daemon and delete it so a new one is made`);
    case 'valid':
      return found.token;
  }
}

/** What is at a token path. */
type TokenFile =
  | { readonly status: 'valid'; readonly token: Buffer; readonly stamp: FileStamp }
  | { readonly status: 'absent' }
  | { readonly status: 'exposed' | 'malformed'; readonly reason: string }
  | { readonly status: 'unreadable'; readonly error: NodeJS.ErrnoException };

function inspectToken(path: string): TokenFile {
  const file = readSmallFile(path, TOKEN_LENGTH);
  switch (file.status) {
    case 'absent':
    case 'unreadable':
      return file;
    case 'notRegular':
      return { status: 'exposed', reason: file.reason };
    case 'tooLarge':
      return { status: 'malformed', reason: file.reason };
    case 'read': {
      const { stats } = file;
      if (currentUid !== undefined && stats.uid !== BigInt(currentUid)) return { status: 'exposed', reason: `it is owned by uid ${stats.uid}` };
      if (process.platform !== 'win32' && (stats.mode & 0o077n) !== 0n) {
        return { status: 'exposed', reason: `it has mode ${(stats.mode & 0o777n).toString(8).padStart(4, '0')}` };
      }
      const text = file.bytes.toString('latin1');
      if (!TOKEN_PATTERN.test(text)) return { status: 'malformed', reason: 'it is not 64 lowercase hex characters' };
      return { status: 'valid', token: file.bytes, stamp: file.stamp };
    }
  }
}

/** Whether the token file holds a given secret (see {@link checkToken}). */
export type TokenCheck =
  /** It does; `stamp` identifies the file that was read, to skip re-reading it while it is unchanged. */
  | { readonly status: 'same'; readonly stamp: FileStamp }
  | { readonly status: 'absent' }
  /** It is there but is not this secret in a private regular file; `reason` says what it is. */
  | { readonly status: 'differs'; readonly reason: string }
  /** The read failed (EMFILE, EACCES, EIO...): nothing is known about the file. */
  | { readonly status: 'unreadable'; readonly error: NodeJS.ErrnoException };

/** Whether the file at `path` is a private token file holding exactly `token`. Never throws. */
export function checkToken(path: string, token: Uint8Array): TokenCheck {
  const found = inspectToken(path);
  switch (found.status) {
    case 'absent':
      return found;
    case 'valid':
      return Buffer.compare(found.token, token) === 0 ? { status: 'same', stamp: found.stamp } : { status: 'differs', reason: 'it holds another secret' };
    case 'unreadable':
      return found;
    case 'exposed':
    case 'malformed':
      return { status: 'differs', reason: found.reason };
  }
}

/**
 * Puts `token` at `path` atomically (a complete private temp file renamed over whatever is
 * there), for the daemon that holds it. No temp file is left if it fails.
 */
export function restoreToken(path: string, token: Uint8Array): void {
  replacePrivateFile(path, token);
}
