/**
 * The per-user secret both sides prove they hold. Created once: written in full to a
 * private temp file, then hard-linked into place, which fails if another process won the
 * race. So a reader never sees a half-written token.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, lstatSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { LoopbackSingletonError } from '../errors.js';

const TOKEN_PATTERN = /^[0-9a-f]{64}$/;

/** Reads the token at `path`, creating it if absent. Returns the token's bytes (the key). */
export function loadOrCreateToken(path: string): Buffer {
  const existing = readToken(path);
  if (existing) return existing;
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, randomBytes(32).toString('hex'));
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(temp);
  }
  const token = readToken(path);
  if (!token) throw new LoopbackSingletonError(`Token file ${path} vanished while it was being created`);
  return token;
}

/**
 * Reads an existing token, or undefined when there is none.
 * @throws {LoopbackSingletonError} when the file is not private to this user or malformed.
 */
export function readToken(path: string): Buffer | undefined {
  let stat;
  try {
    stat = lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  if (!stat.isFile() || (uid !== undefined && stat.uid !== uid) || (process.platform !== 'win32' && (stat.mode & 0o077) !== 0)) {
    throw new LoopbackSingletonError(
      `Token file ${path} is not a regular file of mode 0600 owned by you; the secret may be exposed. Stop the daemon and delete the file so a new one is made`,
    );
  }
  const text = readFileSync(path, 'latin1');
  if (!TOKEN_PATTERN.test(text)) {
    throw new LoopbackSingletonError(`Token file ${path} is malformed; stop the daemon and delete it so a new one is made`);
  }
  return Buffer.from(text, 'latin1');
}
