/**
 * Liveness is not responsiveness: what a failed connect to a recorded daemon means, judged by
 * its process (pid and start time), for the client statechart (machines/client.machine.ts)
 * to route on. A live daemon that did not answer is `ERR_DAEMON_UNRESPONSIVE` and is waited
 * for; only a dead process, or a pid now used by another process, makes the record stale.
 * A look at the process that fails (EMFILE reading /proc) throws: it is no verdict at all.
 */
import type { ClientOutput } from '../../machines/client.machine.js';
import { ConnectionFailedError, DaemonConnectionError } from '../errors.js';
import { isResourceFault, localFaultError } from '../runtime/local-fault.js';
import { backupPathOf, readMetadata } from '../runtime/metadata.js';
import { isProcessAlive, isSameProcess } from '../runtime/process.js';
import { sleep } from '../runtime/sleep.js';
import type { DaemonMetadata, RuntimePaths } from '../types.js';
import type { StartPlan } from './plan.js';

/** How long a process that closed its sockets may take to be seen as exited. */
const EXIT_SETTLE_MS = 25;
/** How often a client waiting for a draining daemon looks whether its process exited. */
const EXIT_POLL_MS = 20;

/** Handshake failures that are the daemon's own answer, not a sign that it is unreachable. */
export const ANSWERED_CODES = new Set(['ERR_PROTOCOL_VERSION']);

/**
 * The error that makes the record `metadata` stale, or undefined while its daemon's process runs.
 * @throws {LoopbackSingletonError} when the process cannot be looked at (EMFILE...).
 */
export function goneDaemonError(plan: StartPlan, metadata: DaemonMetadata): ConnectionFailedError | undefined {
  if (isSameProcess(metadata.pid, metadata.startTime)) return undefined;
  return new ConnectionFailedError(
    isProcessAlive(metadata.pid)
      ? `The daemon recorded in ${plan.paths.metadata} (pid ${metadata.pid}) is gone: that pid now belongs to another process`
      : `The daemon recorded in ${plan.paths.metadata} (pid ${metadata.pid}) is not running`,
  );
}

/**
 * The error for a live daemon whose record says it is draining, or undefined when it does
 * not. The client statechart waits for its process to exit (`awaitingExit`).
 */
export function drainingError(plan: StartPlan, metadata: DaemonMetadata): DaemonConnectionError | undefined {
  if (metadata.draining !== true) return undefined;
  return new DaemonConnectionError(`The daemon "${plan.name}" (pid ${metadata.pid}) is draining: it accepts nothing new and exits within its drain deadline`, {
    code: 'ERR_DAEMON_DRAINING',
  });
}

/**
 * Resolves once every process a record at `paths` (metadata.json or its copy) names as
 * draining has exited: not merely once its record is gone, as a daemon removes it just before
 * it exits. Polls, until `signal` aborts.
 */
export async function drainedExit(paths: RuntimePaths, signal: AbortSignal): Promise<void> {
  const seen = new Map<string, Pick<DaemonMetadata, 'pid' | 'startTime'>>();
  while (!signal.aborted) {
    for (const path of [paths.metadata, backupPathOf(paths.metadata)]) {
      const read = readMetadata(path);
      if (read.status === 'valid' && read.metadata.draining === true) seen.set(read.metadata.instanceId, read.metadata);
    }
    if (![...seen.values()].some(({ pid, startTime }) => isSameProcess(pid, startTime))) return;
    await sleep(EXIT_POLL_MS);
  }
}

/**
 * What a failed handshake with the daemon `metadata` names means. While its process still runs
 * (same pid, same start time) it is that daemon, busy (a method holding its event loop),
 * stopped, re-binding its socket or restoring its token: `ERR_DAEMON_UNRESPONSIVE`, which the
 * client statechart waits on. Once the process is gone the record is stale. A connect that
 * failed for want of local resources (EMFILE, ENFILE, ENOMEM) is this client's fault, not the
 * daemon's: the local-fault error, which ends the attempt.
 */
export async function unansweredOrStale(plan: StartPlan, metadata: DaemonMetadata, error: unknown, signal: AbortSignal | undefined): Promise<unknown> {
  if (signal?.aborted || ANSWERED_CODES.has(String((error as { code?: unknown })?.code))) return error;
  if (isResourceFault(error))
    return localFaultError(
      `open a connection to the daemon "${plan.name}" at ${metadata.transport === 'tcp' ? `${metadata.host}:${metadata.port}` : metadata.path}`,
      error,
    );
  if (!isSameProcess(metadata.pid, metadata.startTime)) return error;
  // A killed process closes its sockets before it turns into a zombie: look again a moment
  // later, so that a daemon that just died is found stale now rather than after a wait.
  await sleep(EXIT_SETTLE_MS);
  if (!isSameProcess(metadata.pid, metadata.startTime)) return error;
  return new ConnectionFailedError(
    `The daemon "${plan.name}" (pid ${metadata.pid}) is running but did not complete a handshake: ${(error as Error)?.message ?? String(error)}`,
    { code: 'ERR_DAEMON_UNRESPONSIVE', cause: error },
  );
}

/**
 * The error for an attempt whose start budget ran out on a daemon that is alive but did not
 * answer (it was left running), or undefined when that is not what happened.
 */
export function unresponsiveError(plan: StartPlan, output: ClientOutput): ConnectionFailedError | undefined {
  const { startTimeoutMs } = plan.options;
  const last = output.error as { code?: unknown; message?: string } | undefined;
  let what: string;
  if (output.timedOutIn === '"awaitingExit"') {
    return new ConnectionFailedError(
      `${last?.message ?? `The daemon "${plan.name}" is draining`}; it did not exit within startTimeoutMs (${startTimeoutMs} ms), and no daemon is started beside it. ` +
        `Raise startTimeoutMs above its drainTimeoutMs, or stop it with \`loopback-singleton stop ${plan.name} --force\`. See ${plan.paths.log}`,
      { code: 'ERR_DAEMON_UNRESPONSIVE', cause: output.error },
    );
  }
  if (output.unanswered > 0 && last?.code === 'ERR_DAEMON_UNRESPONSIVE') {
    what = `${last.message}; tried ${output.unanswered} time(s) within startTimeoutMs (${startTimeoutMs} ms)`;
  } else if (output.timedOutIn === '"connecting"' && output.metadata && isSameProcess(output.metadata.pid, output.metadata.startTime)) {
    what = `The daemon "${plan.name}" (pid ${output.metadata.pid}) is running but did not complete a handshake within startTimeoutMs (${startTimeoutMs} ms)`;
  } else {
    return undefined;
  }
  return new ConnectionFailedError(
    `${what}. It was left running, with its state. Likely cause: a hosted method keeping its event loop busy on the CPU ` +
      '(a long synchronous computation), or a stopped process (SIGSTOP, a debugger). ' +
      "Raise startTimeoutMs, move long CPU work off the daemon's event loop (a worker thread), " +
      `or stop it with \`loopback-singleton stop ${plan.name} --force\`. See ${plan.paths.log}`,
    { code: 'ERR_DAEMON_UNRESPONSIVE', cause: output.error },
  );
}
