/**
 * One connect attempt: the client statechart (machines/client.machine.ts) with its effects
 * provided. Discovers the daemon, or starts one under the spawn lock, and hands back an
 * authenticated connection to a daemon running the requested factory.
 *
 * Discovery, the lock and the recheck go through the attempt's {@link FileRegistry}
 * (../registry/file.ts), the same `Registry` interface `scope: 'cluster'` provides them on
 * (./cluster-starter.ts). What rests on pids stays here, on the runtime files: cleaning up
 * stale files, the record's copy, waiting for a draining daemon's process to exit.
 */
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createActor, fromPromise, toPromise } from 'xstate';
import { clientMachine } from '../../machines/client.machine.js';
import { publish } from '../diagnostics.js';
import { inspector } from '../inspect.js';
import { ConnectionFailedError, LoopbackSingletonError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import type { DaemonConfig } from '../runtime/daemon-config.js';
import { FileRegistry } from '../registry/file.js';
import type { StartRight } from '../registry/registry.js';
import type { HeldLock } from '../runtime/lock.js';
import { ensurePrivateDir } from '../runtime/dir.js';
import { backupPathOf, readMetadata, removeMetadataIf } from '../runtime/metadata.js';
import { removeQuietly } from '../runtime/private-file.js';
import { isSameProcess } from '../runtime/process.js';
import { sleep } from '../runtime/sleep.js';
import type { DaemonMetadata, RuntimePaths, StartReason } from '../types.js';
import { rehearseWireOnce } from '../wire/rehearsal.js';
import { attemptFailure } from './attempt-failure.js';
import type { Connection } from './connection.js';
import { logAsClient, noteDeadDaemons } from './dead-daemon.js';
import type { StartAttempt, StartPlan } from './plan.js';
import { connectTo, discovered, readable, settledRecord } from './reach.js';
import { type DaemonLaunch, launchDaemon, launchInTurn } from './spawn.js';
import type { Standby } from './standby.js';
import { drainedExit, goneDaemonError } from './unresponsive.js';

/**
 * `onMismatch: 'replace'`, under the lock: asks the daemon that runs another factory to drain
 * gracefully (its accepted calls are answered) and waits until its process has exited (its
 * drain has a deadline; the start budget bounds the wait): never a daemon beside it.
 */
async function drainMismatched(attempt: StartAttempt, signal: AbortSignal): Promise<void> {
  const { plan } = attempt;
  const read = await filesOf(attempt).discover(signal);
  if (read.status !== 'valid') return;
  const { pid, startTime } = read.record;
  // Already draining (asked by someone else): only its exit is to be waited for.
  if (read.record.draining !== true) {
    const connection = await connectTo(plan, read.record, signal, false);
    try {
      await connection.shutdown(false);
    } finally {
      connection.close();
    }
  }
  // The old daemon keeps its record until it exits; it finishes its calls on its own time.
  while (isSameProcess(pid, startTime)) {
    signal.throwIfAborted();
    await sleep(10);
  }
  publish('client', 'replaced', () => ({ name: plan.name, pid }));
}

/** The attempt's registry on the runtime files; {@link connectOrStart} makes one per attempt. */
function filesOf(attempt: StartAttempt): FileRegistry {
  if (attempt.files === undefined) throw new LoopbackSingletonError('A local attempt without its file registry (a bug)');
  return attempt.files;
}

/** A start right as the chart holds the spawn lock. */
function asLock(right: StartRight): HeldLock {
  return {
    release: () => right.release(),
    get compromised() {
      return right.lost;
    },
  };
}

/**
 * Removes what a dead daemon left behind. Runs only under the spawn lock. Each removal rests
 * on evidence: a record read whole and invalid, or one whose process is gone. A read that
 * fails, or a process that cannot be looked at, throws before anything is removed.
 */
function cleanStale(paths: RuntimePaths, stale: DaemonMetadata | undefined): void {
  const backup = backupPathOf(paths.metadata);
  const read = readable(paths.metadata, readMetadata(paths.metadata));
  const copy = readable(backup, readMetadata(backup));
  const copyStale = copy.status !== 'absent' && (copy.status !== 'valid' || !isSameProcess(copy.metadata.pid, copy.metadata.startTime));
  if (read.status === 'malformed') {
    unlinkSync(paths.metadata);
  } else if (read.status === 'valid') {
    // Only the record judged stale; compare-and-delete keeps a newer one.
    removeMetadataIf(paths.metadata, stale?.instanceId ?? read.metadata.instanceId);
  }
  // The copy of a record whose daemon is gone.
  if (copyStale) removeQuietly(backup);
  // Sockets of SIGKILLed ipc daemons, and temp files of interrupted writes.
  for (const entry of readdirSync(paths.dir)) {
    if ((entry.startsWith('d-') && entry.endsWith('.sock')) || entry.endsWith('.tmp')) {
      try {
        unlinkSync(join(paths.dir, entry));
      } catch {
        // gone already
      }
    }
  }
}

/**
 * The config of a daemon spawned with `budgetMs` of the start budget left: its boot must fit
 * in it, and it waits at least that long for its spawner before it may idle-exit.
 */
export function daemonConfig(plan: StartPlan, startReason: StartReason, budgetMs: number): DaemonConfig {
  const { options } = plan;
  return {
    startReason,
    name: plan.name,
    paths: plan.paths,
    factory: plan.factory,
    args: plan.encodedArgs,
    factoryId: plan.factoryId,
    transport: options.transport,
    idleTtlMs: options.idleTtlMs,
    maxFrameBytes: options.maxFrameBytes,
    maxQueuedCalls: options.maxQueuedCalls,
    // Capped at the longest delay setTimeout honours.
    handshakeTimeoutMs: Math.min(0x7fffffff, Math.max(1000, 2 * options.connectTimeoutMs)),
    stallTimeoutMs: Math.min(0x7fffffff, Math.max(5000, 4 * options.connectTimeoutMs)),
    bootTimeoutMs: Math.max(1, Math.ceil(budgetMs)),
    firstClientWithinMs: Math.ceil(budgetMs),
    drainTimeoutMs: options.drainTimeoutMs,
  };
}

/** The error of a step that found the start budget spent. */
export function budgetSpent(plan: StartPlan, doing: string): ConnectionFailedError {
  return new ConnectionFailedError(
    `Could not start the daemon "${plan.name}" within startTimeoutMs (${plan.options.startTimeoutMs} ms): the budget ran out before ${doing}`,
  );
}

/**
 * Spawns a daemon with the config `configFor` makes from the budget left, one spawn per turn
 * of the event loop (see launchInTurn), never past the deadline: a daemon spawned then would
 * find no one to connect to it. Shared with `scope: 'cluster'` (./cluster-starter.ts).
 */
export async function spawnInTurn(attempt: StartAttempt, configFor: (budgetMs: number) => DaemonConfig): Promise<DaemonLaunch> {
  const { plan, deadline, standby } = attempt;
  const launch = await launchInTurn(() => {
    const budgetMs = deadline - performance.now();
    if (budgetMs <= 0) throw budgetSpent(plan, 'spawning a daemon');
    return launchDaemon(configFor(budgetMs), standby?.take());
  });
  // While the daemon boots (see ../wire/rehearsal.ts).
  rehearseWireOnce();
  return launch;
}

/** Waits for the boot report of the daemon `launch` started; kills it when `signal` (the budget) aborts first. */
export async function awaitLaunch(attempt: StartAttempt, launch: DaemonLaunch, signal: AbortSignal): Promise<DaemonMetadata> {
  const { plan } = attempt;
  const onAbort = () => {
    logAsClient(plan.paths, `gave up on daemon pid ${launch.pid} after startTimeoutMs (${plan.options.startTimeoutMs} ms): it had not reported ready; killed`);
    launch.abort(new ConnectionFailedError('The start was abandoned (startTimeoutMs)'));
  };
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return (await launch.ready).metadata;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

/**
 * The client statechart with its effects, provided once per process: each effect gets the
 * attempt (its plan, deadline and standby) and what else it needs as its input, from the
 * machine's context (see machines/client.machine.ts).
 */
const startMachine = clientMachine.provide({
  actors: {
    readMetadata: fromPromise(async ({ input: attempt, signal }) => discovered(filesOf(attempt), signal)),
    connect: fromPromise(({ input: { attempt, metadata }, signal }) => connectTo(attempt.plan, metadata, signal)),
    acquireLock: fromPromise(async ({ input: { attempt, metadata: stale }, signal }) => {
      // Stops waiting only for a record other than the one just found unusable.
      const right = await filesOf(attempt).acquireStartRight(stale?.instanceId, signal);
      return right ? { outcome: 'acquired' as const, lock: asLock(right) } : { outcome: 'published' as const };
    }),
    recheck: fromPromise(async ({ input: attempt, signal }) => {
      const { plan } = attempt;
      const read = await settledRecord(filesOf(attempt), signal);
      if (read.status === 'valid') return { connection: await connectTo(plan, read.metadata, signal) };
      // Damaged or missing while its daemon could not mend it (busy, stopped): the copy still
      // names a live daemon, which is waited for like any other, never replaced.
      const backup = backupPathOf(plan.paths.metadata);
      const copy = readable(backup, readMetadata(backup));
      if (copy.status === 'valid' && goneDaemonError(plan, copy.metadata) === undefined) return { connection: await connectTo(plan, copy.metadata, signal) };
      return { reason: read.status === 'absent' ? 'metadata absent' : `metadata ${read.reason}` };
    }),
    awaitExit: fromPromise(({ input: { plan }, signal }) => drainedExit(plan.paths, signal)),
    cleanStale: fromPromise(async ({ input: { attempt, metadata } }) => {
      const deadFound = noteDeadDaemons(attempt.plan.paths, metadata);
      cleanStale(attempt.plan.paths, metadata);
      return { deadFound };
    }),
    replaceDaemon: fromPromise(({ input: attempt, signal }) => drainMismatched(attempt, signal)),
    spawnDaemon: fromPromise(({ input: { attempt, reason } }) => spawnInTurn(attempt, (budgetMs) => daemonConfig(attempt.plan, reason, budgetMs))),
    awaitReady: fromPromise(({ input: { attempt, launch }, signal }) => awaitLaunch(attempt, launch, signal)),
  },
  actions: {
    releaseLock: (_, { lock }) => {
      void lock?.release();
    },
  },
});

/** How a call of {@link connectOrStart} is bounded and why it starts a daemon. */
export interface StartOptions {
  /**
   * When the whole call must be done, on the monotonic clock (performance.now()); default
   * `startTimeoutMs` from now. A service passes the deadline its own call began with.
   */
  readonly deadline?: number;
  /** The caller lost its daemon: a daemon started now is a restart. */
  readonly restart?: boolean;
  /** A daemon process spawned ahead (see ./standby.ts): the spawn step sends it the config. */
  readonly standby?: Standby;
}

/** The deadline of a call to `proxy()`, `ensureStarted()`... begun now. */
export function startDeadline(options: ResolvedOptions): number {
  return performance.now() + options.startTimeoutMs;
}

/**
 * Runs the client statechart once: resolves with a connection to a daemon running the
 * plan's factory, starting one if needed.
 * @throws {FactoryError} | {FactoryMismatchError} | {HandshakeError} | {ConnectionFailedError}
 */
export async function connectOrStart(plan: StartPlan, options: StartOptions = {}): Promise<Connection> {
  const deadline = options.deadline ?? startDeadline(plan.options);
  // Every attempt: the directory may have been removed since the last one (clean, tmp reaper).
  ensurePrivateDir(plan.paths.dir);
  // Touches no file: it only names this singleton's runtime files; it holds nothing after the attempt.
  const files = new FileRegistry(plan.paths);
  return runAttempt(startMachine, { plan, deadline, standby: options.standby, files }, options.restart === true);
}

/**
 * Runs the client statechart `machine` (the chart with one scope's effects) once for
 * `attempt`, and turns its output into the connection or the error to throw. Shared with
 * `scope: 'cluster'` (./cluster-starter.ts).
 */
export async function runAttempt(machine: typeof clientMachine, attempt: StartAttempt, restart: boolean): Promise<Connection> {
  const { plan, deadline } = attempt;
  const actor = createActor(machine, {
    input: {
      replaceOnMismatch: plan.options.onMismatch === 'replace',
      budgetMs: deadline - performance.now(),
      restart,
      attempt,
    },
    inspect: inspector('client', plan.name),
  });
  actor.start();
  const output = await toPromise(actor);
  if (output.connection) return output.connection;
  throw attemptFailure(attempt, output);
}
