/**
 * The daemon's own writer for `daemon.log`: one timestamped line per event, written
 * synchronously so that nothing is lost when the process exits right after.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

/** Appends lines to daemon.log. */
export class DaemonLog {
  #fd: number | undefined;
  readonly #prefix: string;

  constructor(path: string) {
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
