/**
 * Starting a daemon: the config sent over the spawn channel to a daemon process (spawned now,
 * or ahead as a standby: ./standby.ts), and the boot report (ready, or the factory's own
 * error) that comes back. The channel is closed once the daemon is ready, so neither process
 * holds the other.
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { ConnectionFailedError, errorFromWire } from '../errors.js';
import { isResourceFault, localFaultError } from '../runtime/local-fault.js';
import type { BootReport, ConfigMessage, DaemonConfig } from '../runtime/daemon-config.js';
import type { DaemonMetadata } from '../types.js';
import { spawnDaemonProcess } from './daemon-process.js';

/** How long a daemon spawned with its config at hand waits for it (it comes at once). */
const CONFIG_WAIT_MS = 10_000;

/** What a successful spawn yields. */
export interface SpawnedDaemon {
  readonly pid: number;
  readonly metadata: DaemonMetadata;
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
 * Starts a daemon with `config`: sends it to `standby` (a process spawned ahead, see
 * ./standby.ts) or to a process spawned now. The channel is closed once the daemon reported.
 */
export function launchDaemon(config: DaemonConfig, standby?: ChildProcess): DaemonLaunch {
  const daemon = standby ?? spawnDaemonProcess({ paths: config.paths, execArgv: config.factory.execArgv, waitMs: CONFIG_WAIT_MS });
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
    const message: ConfigMessage = { t: 'config', config: standby === undefined ? config : { ...config, budgetFromConfig: true } };
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
