/**
 * Starting a daemon process: `process.execPath` (never `node` from PATH), detached, its
 * stdout/stderr appended to daemon.log, and an IPC channel that carries the config in and
 * the boot report (ready, or the factory's own error) out. The channel is closed once the
 * daemon is ready, so neither process holds the other.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, readSync, renameSync, statSync, fstatSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConnectionFailedError, errorFromWire } from '../errors.js';
import { isResourceFault, localFaultError } from '../runtime/local-fault.js';
import type { BootReport, ConfigMessage, DaemonConfig } from '../runtime/daemon-config.js';
import { DAEMON_LOG_MAX_BYTES } from '../runtime/paths.js';
import type { DaemonMetadata } from '../types.js';

const DAEMON_ENTRY = fileURLToPath(new URL('../daemon/main.js', import.meta.url));

/** What a successful spawn yields. */
export interface SpawnedDaemon {
  readonly pid: number;
  readonly metadata: DaemonMetadata;
}

/**
 * Node flags the daemon inherits so it can import what the spawner can (loaders such as
 * tsx, conditions, experimental features); debugger and profiler flags are left out.
 */
export function inheritedExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const withValue = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader', '--conditions', '-C']);
  const passThrough =
    /^--(import|require|loader|experimental-loader|conditions|experimental-[\w-]+|no-experimental-[\w-]+|enable-source-maps|no-warnings|stack-size|max-old-space-size|preserve-symlinks[\w-]*)(=|$)/;
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    if (withValue.has(arg) && i + 1 < execArgv.length) {
      out.push(arg, execArgv[++i]!);
    } else if (passThrough.test(arg) || /^-C./.test(arg)) {
      out.push(arg);
    }
  }
  return out;
}

/**
 * Node flags for the daemon only, from env `LOOPBACK_SINGLETON_DAEMON_ARGS` (space-separated),
 * for debugging or profiling it: `--inspect=9230`, `--cpu-prof --cpu-prof-dir=/tmp/prof`.
 */
function extraDaemonArgs(): string[] {
  return (process.env.LOOPBACK_SINGLETON_DAEMON_ARGS ?? '').split(/\s+/).filter((arg) => arg.length > 0);
}

function rotateLog(path: string): void {
  try {
    if (statSync(path).size > DAEMON_LOG_MAX_BYTES) renameSync(path, `${path}.1`);
  } catch {
    // no log yet
  }
}

/** The last `bytes` of the daemon log, for error messages. */
export function logTail(path: string, bytes = 2048): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    return buffer.toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** A daemon being started. */
export interface DaemonLaunch {
  readonly pid: number | undefined;
  /**
   * Resolves once the daemon has published its metadata.
   * @throws {FactoryError} with the daemon's own message and stack when the factory failed.
   * @throws {ConnectionFailedError} when the daemon exited without a report.
   */
  readonly ready: Promise<SpawnedDaemon>;
  /** Gives up on the daemon: kills it unless it already reported. Idempotent. */
  abort(reason: Error): void;
}

/**
 * Starts a daemon with `config`: `process.execPath`, detached, output on daemon.log, the
 * config sent over the spawn channel. The channel is closed once the daemon reported.
 */
export function launchDaemon(config: DaemonConfig): DaemonLaunch {
  rotateLog(config.paths.log);
  const logFd = openSync(config.paths.log, 'a', 0o600);
  let child: ChildProcess;
  try {
    // The `execArgv` option, part of the factory identity, replaces the inherited flags.
    const flags = config.factory.execArgv ?? inheritedExecArgv();
    child = spawn(process.execPath, [...flags, ...extraDaemonArgs(), DAEMON_ENTRY], {
      detached: true,
      stdio: ['ignore', logFd, logFd, 'ipc'],
      serialization: 'advanced',
      windowsHide: true,
    });
  } finally {
    closeSync(logFd);
  }
  const daemon = child;
  let abort: (reason: Error) => void = () => {};
  const ready = new Promise<SpawnedDaemon>((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | undefined, metadata?: DaemonMetadata, kill = false) => {
      if (settled) return;
      settled = true;
      daemon.off('message', onMessage);
      daemon.off('exit', onExit);
      daemon.off('error', onError);
      if (daemon.connected) daemon.disconnect();
      daemon.unref();
      if (error) {
        // A daemon that reported its failure exits by itself; one we give up on is killed.
        if (kill && daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
        reject(error);
      } else {
        resolve({ pid: daemon.pid!, metadata: metadata! });
      }
    };
    const onMessage = (message: BootReport) => {
      if (message?.t === 'ready') finish(undefined, message.metadata);
      else if (message?.t === 'failed') finish(errorFromWire(message.error));
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      const judge = () => {
        const tail = logTail(config.paths.log).trim();
        finish(new ConnectionFailedError(`The daemon exited (${signal ?? `code ${code}`}) before it was ready. Last lines of ${config.paths.log}:\n${tail}`));
      };
      // Its report may still be unread in the channel (a busy loop sees the exit first): judge
      // once the channel is drained. The attempt's deadline (abort) bounds the wait.
      if (daemon.connected) daemon.once('disconnect', judge);
      else judge();
    };
    const onError = (error: Error) => {
      // Out of descriptors or memory: a local fault to fix, which the client statechart ends on.
      if (isResourceFault(error)) finish(localFaultError('start the daemon process', error));
      else finish(new ConnectionFailedError(`Could not start the daemon: ${error.message}`, { cause: error }));
    };
    abort = (reason) => finish(reason, undefined, true);
    daemon.on('message', onMessage);
    daemon.on('exit', onExit);
    daemon.on('error', onError);
    const message: ConfigMessage = { t: 'config', config };
    // A spawn that failed at once (EMFILE) has no channel; its 'error' event says why.
    if (typeof daemon.send !== 'function') return;
    daemon.send(message, (error) => {
      if (error) onError(error);
    });
  });
  return { pid: daemon.pid, ready, abort: (reason) => abort(reason) };
}

/** The last launch queued in this process: launches run one at a time (see {@link launchInTurn}). */
let lastLaunch: Promise<unknown> = Promise.resolve();

/**
 * Runs `launch` (which spawns a daemon) after the launches queued before it, each on a turn
 * of the event loop of its own. `spawn()` is synchronous: it returns once the child has
 * exec'd, which on a loaded machine takes tens of milliseconds; many starts in one tick
 * would hold the caller's event loop for all of them at once (40 parallel starts: seconds),
 * so that no boot report, timer or connection of the starts already under way is served.
 */
export function launchInTurn<T>(launch: () => T): Promise<T> {
  const turn = lastLaunch.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(launch);
  lastLaunch = turn.catch(() => {});
  return turn;
}

/**
 * Spawns a daemon and waits until it has published its metadata, at most `timeoutMs`
 * (then it is killed, so no orphan is left).
 */
export async function spawnDaemon(config: DaemonConfig, timeoutMs: number): Promise<SpawnedDaemon> {
  const launch = launchDaemon(config);
  const timer = setTimeout(
    () => launch.abort(new ConnectionFailedError(`The daemon did not become ready within ${timeoutMs} ms; it was killed. See ${config.paths.log}`)),
    timeoutMs,
  );
  try {
    return await launch.ready;
  } finally {
    clearTimeout(timer);
  }
}
