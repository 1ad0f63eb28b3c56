/**
 * One connect attempt: the client statechart (machines/client.machine.ts) with its effects
 * provided. Discovers the daemon, or starts one under the spawn lock, and hands back an
 * authenticated connection to a daemon running the requested factory.
 */
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { createActor, fromPromise, toPromise } from 'xstate';
import { clientMachine } from '../../machines/client.machine.js';
import { publish } from '../diagnostics.js';
import { inspector } from '../inspect.js';
import { ConnectionFailedError, FactoryMismatchError, LoopbackSingletonError } from '../errors.js';
import type { ResolvedOptions } from '../options.js';
import type { DaemonConfig } from '../runtime/daemon-config.js';
import { acquireSpawnLock, type HeldLock } from '../runtime/lock.js';
import { ensurePrivateDir } from '../runtime/dir.js';
import { backupPathOf, readMetadata, removeMetadataIf, type MetadataRead } from '../runtime/metadata.js';
import { removeQuietly } from '../runtime/private-file.js';
import { isSameProcess } from '../runtime/process.js';
import { loadOrCreateToken } from '../runtime/token.js';
import type { DaemonMetadata, FactoryIdentity, RuntimePaths, StartReason } from '../types.js';
import { PACKAGE_VERSION } from '../version.js';
import { rehearseWire } from '../wire/rehearsal.js';
import { describeChangedModules, describeMismatch } from './factory-ref.js';
import { Connection } from './connection.js';
import { SystemOwners } from './owners.js';
import { goneDaemonError, unansweredOrStale, unresponsiveError } from './unresponsive.js';
import { launchDaemon, type DaemonLaunch } from './spawn.js';

/** Everything one attempt needs, resolved by the service. */
export interface StartPlan {
  readonly name: string;
  readonly paths: RuntimePaths;
  readonly options: ResolvedOptions;
  readonly factory: FactoryIdentity;
  readonly factoryId: string;
  readonly encodedArgs: Uint8Array;
}

/**
 * Connects to the daemon `metadata` names, after a cheap liveness check on its process, and
 * makes sure it runs our factory.
 * @throws {FactoryMismatchError} when it runs another factory or other arguments.
 * @throws {ConnectionFailedError} `ERR_DAEMON_UNRESPONSIVE` when the recorded process still
 *   runs but the handshake failed: a live daemon is never taken for a stale one.
 */
export async function connectTo(plan: StartPlan, metadata: DaemonMetadata, signal?: AbortSignal, checkFactory = true): Promise<Connection> {
  const gone = goneDaemonError(plan, metadata);
  if (gone) throw gone;
  const token = loadOrCreateToken(plan.paths.token);
  let connection: Connection;
  try {
    connection = await Connection.open(metadata, { token, maxFrameBytes: plan.options.maxFrameBytes, timeoutMs: plan.options.connectTimeoutMs, signal });
  } catch (error) {
    throw await unansweredOrStale(plan, metadata, error, signal);
  }
  // Same identity, but a local module the factory loaded may have been edited since.
  const differences = !checkFactory
    ? []
    : connection.welcome.factoryId !== plan.factoryId
      ? describeMismatch(connection.welcome.factory, connection.welcome.packageVersion, plan.factory, PACKAGE_VERSION)
      : describeChangedModules(connection.welcome.modules);
  if (differences.length > 0) {
    connection.close();
    const { welcome } = connection;
    throw new FactoryMismatchError(
      `The running daemon "${plan.name}" (pid ${welcome.pid}) does not run what this client asks for: ${differences.join('; ')}. ` +
        "Pass { onMismatch: 'replace' } to have it drain (its accepted calls are answered) and replaced, " +
        'or stop it first with service.shutdown()',
    );
  }
  return connection;
}

/**
 * `onMismatch: 'replace'`, under the lock: asks the daemon that runs another factory to drain
 * gracefully (its accepted calls are answered) and waits until it has unpublished itself.
 */
async function drainMismatched(plan: StartPlan, signal: AbortSignal): Promise<void> {
  const read = readMetadata(plan.paths.metadata);
  if (read.status !== 'valid') return;
  const { pid, instanceId } = read.metadata;
  const connection = await connectTo(plan, read.metadata, signal, false);
  try {
    await connection.shutdown(false);
  } finally {
    connection.close();
  }
  // Draining unpublishes first; the old daemon finishes its calls on its own time.
  for (;;) {
    const now = readMetadata(plan.paths.metadata);
    if (now.status !== 'valid' || now.metadata.instanceId !== instanceId) break;
    signal.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  publish('client', 'replaced', () => ({ name: plan.name, pid }));
}

/** How long a client under the lock gives a live daemon to mend a damaged metadata.json. */
const MEND_GRACE_MS = 350;

/**
 * The metadata, giving a damaged record a moment to be mended: a serving daemon rewrites its
 * own record within ~100 ms, and a damaged file must not be taken for a dead daemon (that
 * would start a second one). An absent record is not waited for: that is a cold start.
 */
export async function settledMetadata(path: string, signal?: AbortSignal): Promise<MetadataRead> {
  const deadline = Date.now() + MEND_GRACE_MS;
  let read = readMetadata(path);
  while (read.status === 'malformed' && Date.now() < deadline) {
    signal?.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, 25));
    read = readMetadata(path);
  }
  return read;
}

/** Removes what a dead daemon left behind. Runs only under the spawn lock. */
function cleanStale(paths: RuntimePaths, stale: DaemonMetadata | undefined): void {
  const read = readMetadata(paths.metadata);
  if (read.status === 'malformed') {
    unlinkSync(paths.metadata);
  } else if (read.status === 'valid') {
    // Only the record judged stale; compare-and-delete keeps a newer one.
    removeMetadataIf(paths.metadata, stale?.instanceId ?? read.metadata.instanceId);
  }
  // The copy of a record whose daemon is gone.
  const backup = backupPathOf(paths.metadata);
  const copy = readMetadata(backup);
  if (copy.status !== 'absent' && (copy.status !== 'valid' || !isSameProcess(copy.metadata.pid, copy.metadata.startTime))) removeQuietly(backup);
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

function daemonConfig(plan: StartPlan, startReason: StartReason): DaemonConfig {
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
    bootTimeoutMs: options.startTimeoutMs,
  };
}

/** One attempt: its plan, and the spawn lock while it holds it. */
interface Attempt {
  readonly plan: StartPlan;
  lock: HeldLock | undefined;
}

/** Each attempt's actor system (one per root actor) leads its effects to the attempt. */
const attempts = new SystemOwners<Attempt>('attempt');

/**
 * The client statechart with its effects, provided once: `provide()` builds a new machine
 * (~0.5 ms, on every connect), so the effects look their attempt up (see ./owners.ts).
 */
const effectsMachine = clientMachine.provide({
  actors: {
    readMetadata: fromPromise(async ({ system }) => readMetadata(attempts.of(system).plan.paths.metadata)),
    connect: fromPromise(({ input, signal, system }) => connectTo(attempts.of(system).plan, input, signal)),
    acquireLock: fromPromise(async ({ input: stale, signal, system }) => {
      const attempt = attempts.of(system);
      const { paths } = attempt.plan;
      // Stop waiting only for a record other than the one just found unusable: going back
      // to discovering for the same stale record would spin until the lock holder is done.
      const published = () => {
        const read = readMetadata(paths.metadata);
        return read.status === 'valid' && read.metadata.instanceId !== stale?.instanceId;
      };
      attempt.lock = await acquireSpawnLock(paths, published, signal);
      return attempt.lock ? 'acquired' : 'published';
    }),
    recheck: fromPromise(async ({ signal, system }) => {
      const { plan } = attempts.of(system);
      const read = await settledMetadata(plan.paths.metadata, signal);
      if (read.status === 'valid') return { connection: await connectTo(plan, read.metadata, signal) };
      // Damaged or missing while its daemon could not mend it (busy, stopped): the copy still
      // names a live daemon, which is waited for like any other, never replaced.
      const copy = readMetadata(backupPathOf(plan.paths.metadata));
      if (copy.status === 'valid' && goneDaemonError(plan, copy.metadata) === undefined) return { connection: await connectTo(plan, copy.metadata, signal) };
      return { reason: read.status === 'absent' ? 'metadata absent' : `metadata ${read.reason}` };
    }),
    cleanStale: fromPromise(async ({ input, system }) => cleanStale(attempts.of(system).plan.paths, input)),
    replaceDaemon: fromPromise(({ signal, system }) => drainMismatched(attempts.of(system).plan, signal)),
    spawnDaemon: fromPromise<object, StartReason>(async ({ input, system }) => {
      const launch = launchDaemon(daemonConfig(attempts.of(system).plan, input));
      // While the daemon boots (see ../wire/rehearsal.ts).
      rehearseWire();
      return launch;
    }),
    awaitReady: fromPromise(async ({ input, signal }) => {
      const launch = input as DaemonLaunch;
      const onAbort = () => launch.abort(new ConnectionFailedError('The start was abandoned (startTimeoutMs)'));
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        return (await launch.ready).metadata;
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
    }),
  },
  actions: {
    releaseLock: ({ system }) => {
      const attempt = attempts.of(system);
      void attempt.lock?.release();
      attempt.lock = undefined;
    },
  },
});

/**
 * The machine for one start budget. The delay is resolved while the actor is created, before
 * its attempt is registered, so it is part of the machine: one per `startTimeoutMs` in use.
 */
const budgetMachines = new Map<number, typeof effectsMachine>();

function machineFor(startTimeoutMs: number): typeof effectsMachine {
  let machine = budgetMachines.get(startTimeoutMs);
  if (machine === undefined) {
    machine = effectsMachine.provide({ delays: { startTimeout: startTimeoutMs } });
    budgetMachines.set(startTimeoutMs, machine);
  }
  return machine;
}

/**
 * Runs the client statechart once: resolves with a connection to a daemon running the
 * plan's factory, starting one if needed.
 * @throws {FactoryError} | {FactoryMismatchError} | {HandshakeError} | {ConnectionFailedError}
 */
export async function connectOrStart(plan: StartPlan): Promise<Connection> {
  // Every attempt: the directory may have been removed since the last one (clean, tmp reaper).
  ensurePrivateDir(plan.paths.dir);
  const actor = createActor(machineFor(plan.options.startTimeoutMs), {
    input: { replaceOnMismatch: plan.options.onMismatch === 'replace' },
    inspect: inspector('client', plan.name),
  });
  attempts.set(actor, { plan, lock: undefined });
  actor.start();
  const output = await toPromise(actor);
  if (output.connection) return output.connection as Connection;
  const unresponsive = output.timedOutIn === undefined ? undefined : unresponsiveError(plan, output);
  if (unresponsive) throw unresponsive;
  if (output.error instanceof LoopbackSingletonError) throw output.error;
  // The most recent steps say what happened; a long retry loop would repeat itself.
  const tried = (output.trail.length > 12 ? ['...', ...output.trail.slice(-12)] : output.trail).join('; ');
  if (output.timedOutIn !== undefined) {
    throw new ConnectionFailedError(
      `Could not start or reach the daemon "${plan.name}" within ${plan.options.startTimeoutMs} ms (stuck in ${output.timedOutIn}; ${tried}). See ${plan.paths.log}`,
    );
  }
  throw new ConnectionFailedError(`Could not start or reach the daemon "${plan.name}": ${(output.error as Error)?.message ?? output.error} (${tried})`, {
    cause: output.error,
  });
}
