// The soak's view of the daemons of one runtime dir, from their own log (used by ./main.mjs
// and ./chaos.mjs): which pids ever ran as a daemon there, and which of them live now.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
// The library's own zombie-aware check (not exported by the package); the scripts run after a build.
import { isProcessAlive as isAlive } from '../../dist/src/runtime/process.js';

/**
 * Follows daemon.log (and its rotation to daemon.log.1, which the library does past 1 MiB):
 * every `[daemon PID]` line names a daemon of this runtime dir. A pid once seen dead stays
 * dead, so a recycled pid is never mistaken for a daemon.
 */
export class DaemonTracker {
  #path;
  #fd;
  #ino;
  #offset = 0;
  #partial = '';
  /** pid -> { dead, firstSeenMs, lines[] } */
  daemons = new Map();
  #t0;

  constructor(path, t0) {
    this.#path = path;
    this.#t0 = t0;
  }

  #ingest(text) {
    const lines = (this.#partial + text).split('\n');
    this.#partial = lines.pop();
    for (const line of lines) {
      const match = /\[daemon (\d+)\]/.exec(line);
      if (!match) continue;
      const pid = Number(match[1]);
      let daemon = this.daemons.get(pid);
      if (!daemon) {
        daemon = { dead: false, firstSeenMs: Date.now() - this.#t0, lines: [] };
        this.daemons.set(pid, daemon);
      }
      daemon.lines.push(line);
    }
  }

  #drain() {
    const buffer = Buffer.alloc(64 * 1024);
    for (;;) {
      const n = readSync(this.#fd, buffer, 0, buffer.length, this.#offset);
      if (n === 0) return;
      this.#offset += n;
      this.#ingest(buffer.toString('utf8', 0, n));
    }
  }

  /** Reads what daemon.log gained since the last call. */
  poll() {
    if (this.#fd === undefined) {
      try {
        this.#fd = openSync(this.#path, 'r');
      } catch {
        return; // no daemon has logged yet
      }
      this.#ino = fstatSync(this.#fd).ino;
      this.#offset = 0;
    }
    this.#drain();
    const now = statSync(this.#path, { throwIfNoEntry: false });
    if (now && now.ino !== this.#ino) {
      // Rotated: the rest of the old file (still ours through the fd), then the new one.
      this.#drain();
      closeSync(this.#fd);
      this.#fd = undefined;
      this.#partial = '';
      this.poll();
    }
  }

  /** The daemons alive right now. */
  live() {
    const live = [];
    for (const [pid, daemon] of this.daemons) {
      if (daemon.dead) continue;
      if (isAlive(pid)) live.push(pid);
      else daemon.dead = true;
    }
    return live;
  }

  close() {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}
