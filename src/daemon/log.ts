/**
 * The daemon's own writer for `daemon.log`: one timestamped line per event, written
 * synchronously so that nothing is lost when the process exits right after.
 *
 * The file is also the daemon's stdout and stderr (the spawner opened it for appending), and a
 * daemon may live for weeks, logging two lines per connection and whatever its object prints.
 * So besides the rotation at spawn (src/client/spawn.ts), a running daemon rotates it when it
 * passes {@link DAEMON_LOG_MAX_BYTES}: the content is copied to daemon.log.1 and the file is
 * truncated in place. In place, because stdout and stderr hold the same file open and cannot
 * be pointed at a new one; they append, so they go on at the new end.
 */
import { closeSync, copyFileSync, fstatSync, ftruncateSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { DAEMON_LOG_MAX_BYTES } from '../runtime/paths.js';

/** Appends lines to daemon.log. */
export class DaemonLog {
  #fd: number | undefined;
  readonly #path: string;
  readonly #maxBytes: number;
  readonly #prefix: string;

  constructor(path: string, maxBytes = DAEMON_LOG_MAX_BYTES) {
    this.#path = path;
    this.#maxBytes = maxBytes;
    this.#prefix = `[daemon ${process.pid}]`;
    try {
      this.#fd = openSync(path, 'a', 0o600);
    } catch {
      // Logging must never stop the daemon; stderr (also daemon.log when spawned) remains.
      this.#fd = undefined;
    }
  }

  /** Writes one line. */
  write(line: string): void {
    const text = `${new Date().toISOString()} ${this.#prefix} ${line}\n`;
    try {
      if (this.#fd === undefined) process.stderr.write(text);
      else writeSync(this.#fd, text);
    } catch {
      // a full disk must not take the daemon down
    }
  }

  /**
   * Rotates the file if it has grown past the limit (the daemon calls this periodically).
   * Only while the path still names the file this daemon writes: after a newer daemon's
   * spawn rotated it away, that one owns daemon.log. Returns whether it rotated.
   */
  rotateIfLarge(): boolean {
    const fd = this.#fd;
    if (fd === undefined) return false;
    const rotated = `${this.#path}.1`;
    const temp = `${rotated}.${process.pid}.tmp`;
    try {
      const own = fstatSync(fd);
      if (own.size <= this.#maxBytes) return false;
      const named = statSync(this.#path);
      if (named.ino !== own.ino || named.dev !== own.dev) return false;
      copyFileSync(this.#path, temp);
      renameSync(temp, rotated);
      ftruncateSync(fd, 0);
    } catch {
      // Not rotated (a full disk, a platform that cannot truncate a file opened to append):
      // the file keeps growing as before, and nothing is lost.
      rmSync(temp, { force: true });
      return false;
    }
    this.write(`daemon.log passed ${this.#maxBytes} bytes; earlier lines are in daemon.log.1`);
    return true;
  }

  /** Closes the file; later writes go to stderr. Idempotent. */
  close(): void {
    if (this.#fd === undefined) return;
    try {
      closeSync(this.#fd);
    } catch {
      // already closed
    }
    this.#fd = undefined;
  }
}
