/**
 * Daemons served in this process, for the fast tests `npm run mutate` runs (test/inproc/):
 * the real daemon of src/daemon/daemon.ts, its real sockets and runtime files, and the real
 * client code up to the spawn. Only the process is faked: {@link InProcessDaemonProcess}
 * stands in for the ChildProcess that src/client/daemon-process.ts spawns, takes the config
 * message as a spawned daemon's entry (src/daemon/main.ts) does, and runs the daemon here.
 *
 * A test file mocks the spawn with it:
 *   vi.mock('../../src/client/daemon-process.js', async (load) => ({
 *     ...(await load<typeof import('../../src/client/daemon-process.js')>()),
 *     spawnDaemonProcess: spawnInProcess,
 *   }));
 * and calls {@link stopInProcessDaemons} after each test. Every runtime root is a fresh temp
 * dir (not under the suite's root, whose leak check counts daemon.log pids: these daemons log
 * the test process's own).
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DaemonProcessPlan } from '../../src/client/daemon-process.js';
import { Daemon, type DaemonOutcome } from '../../src/daemon/daemon.js';
import { DaemonLog } from '../../src/daemon/log.js';
import { type BootReport, type ConfigMessage, invalidConfigReason } from '../../src/runtime/daemon-config.js';

/** A daemon "process" in this one: what the client's spawn code sees of a ChildProcess. */
export class InProcessDaemonProcess extends EventEmitter {
  readonly pid = process.pid;
  connected = true;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  /** The daemon, once a config came. */
  daemon: Daemon | undefined;
  /** How its run ended, once a config came. */
  outcome: Promise<DaemonOutcome> | undefined;
  /** The config it was sent. */
  config: ConfigMessage['config'] | undefined;
  /** The boot reports it sent back. */
  readonly reports: BootReport[] = [];
  /** The signals it was sent. */
  readonly signals: string[] = [];
  readonly plan: DaemonProcessPlan;
  /** This "process"'s start on the monotonic clock, from which a spawner's budgets count. */
  readonly #startedAt = performance.now();

  constructor(plan: DaemonProcessPlan) {
    super();
    this.plan = plan;
  }

  send(message: unknown, callback?: (error: Error | null) => void): boolean {
    const reason = invalidConfigReason(message);
    queueMicrotask(() => callback?.(null));
    if (reason !== undefined) {
      this.#exit(2, null);
      return true;
    }
    const { config } = message as ConfigMessage;
    this.config = config;
    const log = new DaemonLog(config.paths.log);
    // As src/daemon/serve.ts: the budgets count from the config's arrival (a standby) or from
    // the process's start, which is this object's creation here, not the test process's.
    const budgetOrigin = config.budgetFromConfig === true ? performance.now() : this.#startedAt;
    this.daemon = new Daemon(
      config,
      log,
      (report) => {
        this.reports.push(report);
        // As the entry does: the report, then the channel is let go.
        setImmediate(() => {
          this.emit('message', report);
          this.disconnect();
        });
      },
      budgetOrigin,
    );
    this.outcome = this.daemon.run().then((outcome) => {
      log.close();
      this.#exit(outcome === 'stopped' ? 0 : 1, null);
      return outcome;
    });
    return true;
  }

  disconnect(): void {
    if (!this.connected) return;
    this.connected = false;
    setImmediate(() => this.emit('disconnect'));
  }

  unref(): void {}

  /** SIGKILL: a daemon that runs is stopped with force (its process would be gone at once). */
  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    this.signals.push(signal);
    if (this.exitCode !== null || this.signalCode !== null) return false;
    if (this.daemon === undefined) {
      this.#exit(null, signal);
    } else {
      this.daemon.shutdownRequested(true);
    }
    return true;
  }

  #exit(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.exitCode !== null || this.signalCode !== null) return;
    this.exitCode = code;
    this.signalCode = signal;
    this.disconnect();
    setImmediate(() => this.emit('exit', code, signal));
  }
}

/** Every "process" spawned by {@link spawnInProcess} since the last {@link stopInProcessDaemons}. */
export const spawned: InProcessDaemonProcess[] = [];

/** Stands in for `spawnDaemonProcess` (src/client/daemon-process.ts). */
export function spawnInProcess(plan: DaemonProcessPlan): InProcessDaemonProcess & import('node:child_process').ChildProcess {
  const child = new InProcessDaemonProcess(plan);
  spawned.push(child);
  return child as InProcessDaemonProcess & import('node:child_process').ChildProcess;
}

/** The daemons spawned so far that got a config. */
export function daemons(): InProcessDaemonProcess[] {
  return spawned.filter((child) => child.daemon !== undefined);
}

/** Stops (with force) every daemon still running, waits for each to end, and forgets them. */
export async function stopInProcessDaemons(): Promise<void> {
  const running = spawned.splice(0);
  for (const child of running) {
    if (child.daemon !== undefined && child.exitCode === null) child.daemon.shutdownRequested(true);
    else if (child.daemon === undefined) child.kill('SIGKILL');
  }
  await Promise.all(running.map((child) => child.outcome));
}

/** A fresh runtime root; remove it with {@link removeRoot}. */
export function makeRoot(prefix = 'lbs-inproc-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeRoot(root: string): void {
  rmSync(root, { recursive: true, force: true });
}

/** The fixtures' hosted objects, as a factory reference. */
export const SERVICES = new URL('../fixtures/services.mjs', import.meta.url).href;
