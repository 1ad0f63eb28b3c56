/**
 * The code a daemon runs, file by file: the local modules its factory loaded, each with a
 * hash of its content. The daemon records them (../daemon/module-recorder.ts) and says so in
 * its welcome; a client hashes the same files and treats a difference as other code. Files
 * in node_modules are left to package versions (a reinstall is not an edit), and so are the
 * files of this package.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { sep } from 'node:path';
import { errnoOf, localFaultError } from './local-fault.js';

/** The most files a daemon records: its welcome stays well under the handshake frame limit. */
export const MAX_RECORDED_MODULES = 256;

const NODE_MODULES = `${sep}node_modules${sep}`;

/** A short hash of a file's bytes (as read from disk, before any loader transformed them). */
export function hashFileContent(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** The hash of the file at `path`, or `missing` when it cannot be read. */
export function hashFile(path: string): string {
  try {
    return hashFileContent(readFileSync(path));
  } catch {
    return 'missing';
  }
}

/** True for a file the daemon records: outside node_modules and outside `ownDir` (this package). */
export function isLocalModule(path: string, ownDir: string): boolean {
  return !path.includes(NODE_MODULES) && !path.startsWith(ownDir);
}

/**
 * The recorded files whose content differs from what the daemon loaded (or that are gone).
 * Every file is read and hashed: a stat (size, mtime) could miss a same-size edit within one
 * timestamp tick, and a few small files cost microseconds.
 */
export function changedModules(recorded: unknown): string[] {
  if (typeof recorded !== 'object' || recorded === null) return [];
  const changed: string[] = [];
  for (const [path, digest] of Object.entries(recorded as Record<string, unknown>)) {
    if (typeof digest === 'string' && currentHash(path) !== digest) changed.push(path);
  }
  return changed;
}

/**
 * The hash of the file at `path` as a client sees it now: `missing` only when it is gone. A
 * read that failed for another reason (EMFILE, EACCES, EIO...) is no sign of other code: it
 * throws the local fault, and nobody is told of a change that did not happen.
 */
function currentHash(path: string): string {
  try {
    return hashFileContent(readFileSync(path));
  } catch (error) {
    const code = errnoOf(error);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') return 'missing';
    throw localFaultError(`read ${path} (a module the daemon's factory loaded)`, error);
  }
}
