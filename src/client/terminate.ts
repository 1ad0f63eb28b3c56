/**
 * How a daemon is stopped, written once for `shutdown()` and `loopback-singleton stop`.
 * Graceful ({@link drainDaemon}): asked over the protocol, or by SIGTERM, then waited for.
 * Forced ({@link killDaemon}): the recorded process (pid checked with its start time)
 * is asked to stop with force over the protocol if it answers (by SIGTERM if it does not),
 * given a short grace, then SIGKILLed if it is still the same process, whatever its state
 * (busy, draining with a method that never settles, SIGSTOPped). What it leaves behind is
 * removed under the rules of stale cleanup: only records carrying its own instanceId, and
 * only its own socket file.
 */
import { rmSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { DaemonConnectionError } from '../errors.js';
import { removeMetadataIf } from '../runtime/metadata.js';
import { isSameProcess, processStartTime } from '../runtime/process.js';
import { sleep } from '../runtime/sleep.js';
import type { DaemonMetadata, RuntimePaths } from '../types.js';
import type { Connection } from './connection.js';

/** How long a daemon asked to stop with force has before it is SIGKILLed. */
export const KILL_GRACE_MS = 2000;
/** How long a SIGKILLed process may take to be gone (it may be in uninterruptible I/O). */
const KILLED_EXIT_MS = 5000;
const EXIT_POLL_MS = 10;

/** Resolves true once the process `metadata` records has exited, false if it still runs after `timeoutMs`. */
export async function waitForDaemonExit(metadata: Pick<DaemonMetadata, 'pid' | 'startTime'>, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (isSameProcess(metadata.pid, metadata.startTime)) {
    signal?.throwIfAborted();
    if (performance.now() >= deadline) return false;
    await sleep(EXIT_POLL_MS);
  }
  return true;
}

/**
 * Whether a signal may go to the process `metadata` records: never to this process, and where
 * the platform keeps start times (Linux), only to a record that carries one (every daemon
 * writes it): a record without it was not written by a daemon of ours, and its pid may be
 * anybody's. Elsewhere the pid is all there is.
 */
export function isSignallable(metadata: Pick<DaemonMetadata, 'pid' | 'startTime'>): boolean {
  if (metadata.pid === process.pid) return false;
  return metadata.startTime !== undefined || processStartTime(process.pid) === undefined;
}

function sendSignal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // exited meanwhile
  }
}

function signalIfSame(metadata: DaemonMetadata, name: NodeJS.Signals): void {
  if (isSignallable(metadata) && isSameProcess(metadata.pid, metadata.startTime)) sendSignal(metadata.pid, name);
}

/**
 * Asks the daemon `metadata` records to drain: over `connection` if it answered, else by
 * SIGTERM (the only word every protocol version understands) unless its record says it drains
 * already. Then waits for its process to exit, at most `timeoutMs`, and closes `connection`.
 * Resolves true once it exited, false if it still runs (it goes on draining).
 */
export async function drainDaemon(metadata: DaemonMetadata, connection: Connection | undefined, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  try {
    if (connection !== undefined) await connection.shutdown(false);
    else if (metadata.draining !== true) sendSignal(metadata.pid, 'SIGTERM');
  } catch {
    // The daemon may close before its acknowledgement arrives: its exit is what counts.
  }
  try {
    // The daemon closes the connection once drained, then exits. These (ref'd) timers also
    // keep this process alive meanwhile: an idle connection alone does not.
    return await waitForDaemonExit(metadata, timeoutMs, signal);
  } finally {
    connection?.close();
  }
}

/** How {@link killDaemon} went, for the CLI to say. */
export interface KillOutcome {
  /** The process did not exit within the grace and was SIGKILLed. */
  readonly killed: boolean;
  /** Its record (or its copy) was still there and was removed. */
  readonly removedRecord: boolean;
}

/**
 * Stops the daemon `metadata` records, whatever its state: `connection` (if it answered) asks
 * it to stop with force, a SIGTERM otherwise; after {@link KILL_GRACE_MS}, a SIGKILL if it is
 * still the same process. Resolves once it is gone and its files are removed.
 * @throws {DaemonConnectionError} when the process outlives even the SIGKILL (an
 *   uninterruptible sleep): its files are left alone; or when it does not answer and its
 *   record cannot prove it is the daemon ({@link isSignallable}): it is not signalled.
 */
export async function killDaemon(paths: RuntimePaths, metadata: DaemonMetadata, connection: Connection | undefined, signal?: AbortSignal): Promise<KillOutcome> {
  if (connection === undefined && !isSignallable(metadata)) {
    throw new DaemonConnectionError(
      `The record names pid ${metadata.pid}, which runs but does not answer, and carries no start time to prove it is the daemon: it was not signalled. ` +
        `Stop that process yourself if it is yours, or remove the record with \`loopback-singleton clean\``,
    );
  }
  if (connection === undefined) {
    signalIfSame(metadata, 'SIGTERM');
  } else {
    // The daemon may close before its acknowledgement arrives: its exit is what counts.
    await connection.shutdown(true).catch(() => undefined);
  }
  let killed = false;
  if (!(await waitForDaemonExit(metadata, KILL_GRACE_MS, signal))) {
    signalIfSame(metadata, 'SIGKILL');
    killed = true;
    if (!(await waitForDaemonExit(metadata, KILLED_EXIT_MS, signal))) {
      throw new DaemonConnectionError(
        `The daemon (pid ${metadata.pid}) still runs ${KILLED_EXIT_MS} ms after SIGKILL (uninterruptible sleep?); its files were left alone`,
      );
    }
  }
  connection?.close();
  // What a killed daemon could not remove; a daemon that exited on its own removed it already.
  const removedRecord = removeMetadataIf(paths.metadata, metadata.instanceId);
  // Its own socket file only: named after its instanceId, in its runtime dir (not a Windows pipe).
  const socket = metadata.transport === 'ipc' ? metadata.path : undefined;
  if (socket !== undefined && dirname(socket) === paths.dir && basename(socket) === `d-${metadata.instanceId.slice(0, 12)}.sock`) rmSync(socket, { force: true });
  return { killed, removedRecord };
}
