/**
 * A standby: a daemon process spawned ahead of the decision to start a daemon, so that its
 * Node start-up and the loading of the daemon's code overlap this client's own loading (the
 * statecharts, the wire, the lock) and its turn at the spawn lock, instead of following
 * them. On a cold start that is most of a second Node start-up taken off the time to the
 * first reply.
 *
 * It is no daemon: until it gets its config it has no socket and no record, and imported no
 * factory (src/daemon/main.ts). The client statechart still decides whether a daemon starts:
 * its spawn step, under the spawn lock, sends the config to the standby instead of spawning
 * a process ({@link Standby.take}). Every other outcome (a daemon found, another client's
 * spawn, an error) kills it ({@link Standby.dismiss}); and it exits by itself when its
 * spawner dies (its channel closes) or its spawner's start budget runs out.
 *
 * Spawned only when the singleton's record is absent (a daemon is to be started, unless
 * another client is starting it right now), and at most one per client process at a time:
 * a process starting many singletons at once spawns the others in turn, as it always did.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { publish } from '../diagnostics.js';
import { ensurePrivateDir } from '../runtime/dir.js';
import type { RuntimePaths } from '../types.js';
import { spawnDaemonProcess } from './daemon-process.js';

/** Whether a standby of this process is waiting: at most one at a time. */
let waiting = false;

/** A daemon process waiting for its config, owned by one connect attempt. */
export class Standby {
  readonly #name: string;
  #child: ChildProcess | undefined;

  private constructor(name: string, child: ChildProcess) {
    this.#name = name;
    this.#child = child;
    this.#publish('spawned', child);
    // A spawn that failed (EMFILE...) reports here; the attempt then spawns as usual and
    // reports that spawn's error.
    child.once('error', () => this.dismiss());
    child.once('exit', () => this.dismiss());
  }

  /**
   * A standby for the singleton at `paths`, when it has no record (its daemon is to be
   * started) and no other standby of this process is waiting; otherwise undefined. Never
   * throws: a standby that cannot be spawned is left to the attempt, which reports why.
   */
  static forColdStart(name: string, paths: RuntimePaths, execArgv: readonly string[] | undefined, waitMs: number): Standby | undefined {
    if (waiting) return undefined;
    try {
      if (existsSync(paths.metadata)) return undefined;
      ensurePrivateDir(paths.dir);
      const standby = new Standby(name, spawnDaemonProcess({ paths, execArgv, waitMs }));
      waiting = true;
      return standby;
    } catch {
      return undefined;
    }
  }

  /** The waiting process, handed over to become the daemon; undefined once taken, dismissed or gone. */
  take(): ChildProcess | undefined {
    const child = this.#child;
    if (child === undefined) return undefined;
    this.#release();
    if (child.exitCode !== null || child.signalCode !== null || !child.connected) {
      this.#publish('lost', child);
      return undefined;
    }
    child.removeAllListeners('error');
    child.removeAllListeners('exit');
    this.#publish('taken', child);
    return child;
  }

  /** Kills the process unless it was taken. Idempotent. */
  dismiss(): void {
    const child = this.#child;
    if (child === undefined) return;
    this.#release();
    const running = child.exitCode === null && child.signalCode === null;
    if (running) child.kill('SIGKILL');
    if (child.connected) child.disconnect();
    child.unref();
    this.#publish(running ? 'dismissed' : 'lost', child);
  }

  /** `loopback-singleton:client:standby`: what became of it (docs/DESIGN.md, "Supervision"). */
  #publish(outcome: 'spawned' | 'taken' | 'dismissed' | 'lost', child: ChildProcess): void {
    publish('client', 'standby', () => ({ name: this.#name, pid: child.pid, outcome }));
  }

  #release(): void {
    this.#child = undefined;
    waiting = false;
  }
}
