/**
 * The client statechart's vocabulary (see ./client.machine.ts for the chart itself): its
 * input, context and output types, and the named effects, actions, guards and delays its
 * transitions refer to. The effects are placeholders: src/client/starter.ts provides them.
 */
import { assign, fromPromise, setup } from 'xstate';
import type { Connection } from '../src/client/connection.js';
import type { StartAttempt } from '../src/client/plan.js';
import type { DaemonLaunch } from '../src/client/spawn.js';
import type { HeldLock } from '../src/runtime/lock.js';
import type { MetadataRead } from '../src/runtime/metadata.js';
import type { DaemonMetadata, StartReason } from '../src/types.js';

/** What acquiring the lock yielded: the lock, or a daemon published while waiting for it. */
export type LockOutcome = 'acquired' | 'published';

/** What the client machine is told at start. */
export interface ClientInput {
  /** `onMismatch: 'replace'`: a daemon running another factory is drained and replaced. */
  readonly replaceOnMismatch: boolean;
  /** The attempt's whole budget, ms (the `startTimeout` delay). */
  readonly budgetMs: number;
  /** The caller lost its daemon: a daemon started now is a restart. */
  readonly restart: boolean;
  /** What the effects work with; the chart hands it to each of them and never looks inside. */
  readonly attempt: StartAttempt;
}

/** The input of an effect that works on a record it was given (the stale one, or the one to connect to). */
export interface WithMetadata<M = DaemonMetadata> {
  readonly attempt: StartAttempt;
  readonly metadata: M;
}

/** The client machine's context. */
export interface ClientContext {
  readonly attempt: StartAttempt;
  readonly budgetMs: number;
  readonly replaceOnMismatch: boolean;
  readonly startReason: StartReason;
  /** Daemons spawned in this attempt. */
  readonly spawns: number;
  readonly metadata: DaemonMetadata | undefined;
  readonly connection: Connection | undefined;
  /** The spawn lock, while the machine is inside `locked`. */
  readonly lock: HeldLock | undefined;
  /** The daemon being spawned. */
  readonly spawned: DaemonLaunch | undefined;
  /** Why the attempt failed: the error an effect threw. */
  readonly error: unknown;
  /** The state the start timeout fired in, if it did. */
  readonly timedOutIn: string | undefined;
  /** What was found and tried, in order, for error messages. */
  readonly trail: readonly string[];
  /** Attempts that found the recorded daemon alive but not answering. */
  readonly unanswered: number;
}

/** What a finished run yields. */
export interface ClientOutput {
  readonly connection: Connection | undefined;
  readonly error: unknown;
  readonly timedOutIn: string | undefined;
  readonly trail: readonly string[];
  readonly unanswered: number;
  /** The last record discovery read, if it was valid. */
  readonly metadata: DaemonMetadata | undefined;
  /** The daemon this attempt spawned last, if any. */
  readonly spawned: DaemonLaunch | undefined;
}

const notProvided = <T, I = unknown>(name: string) =>
  fromPromise<T, I>(async () => {
    throw new Error(`client machine: actor "${name}" was not provided`);
  });

function codeOf(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Daemons one attempt may spawn (the first, and replacements for ones that died unexplained). */
const MAX_SPAWNS = 5;

/**
 * Errors no retry can fix: report them instead of treating the daemon as stale. The generic
 * code is a local fault the caller must fix (a token file that is not private, say). A cluster
 * registry that did not answer (`ERR_REGISTRY_UNAVAILABLE`) is evidence of nothing: no daemon
 * is judged stale or started on it, and its request already waited its timeout.
 */
const FATAL_CODES = new Set(['ERR_FACTORY_MISMATCH', 'ERR_PROTOCOL_VERSION', 'ERR_FACTORY', 'ERR_LOOPBACK_SINGLETON', 'ERR_REGISTRY_UNAVAILABLE']);

/** The connect effect's verdict on a daemon whose process runs but that did not complete a handshake. */
const UNRESPONSIVE_CODE = 'ERR_DAEMON_UNRESPONSIVE';

/** The connect effect's verdict on a live daemon whose record says it is draining. */
const DRAINING_CODE = 'ERR_DAEMON_DRAINING';

/** The client statechart's setup: what ./client.machine.ts builds its chart from. */
export const clientSetup = setup({
  types: {
    context: {} as ClientContext,
    output: {} as ClientOutput,
    input: {} as ClientInput,
  },
  actors: {
    /** Reads and validates metadata.json. */
    readMetadata: notProvided<MetadataRead, StartAttempt>('readMetadata'),
    /** Connects to the daemon the metadata names and runs the handshake. */
    connect: notProvided<Connection, WithMetadata>('connect'),
    /**
     * Waits for the spawn lock; gives up waiting when a daemon other than the stale one it
     * is given (the record just found unusable, if any) gets published meanwhile.
     */
    acquireLock: notProvided<{ outcome: LockOutcome; lock?: HeldLock }, WithMetadata<DaemonMetadata | undefined>>('acquireLock'),
    /** Under the lock: metadata again, and a handshake if it is valid. */
    recheck: notProvided<{ connection?: Connection; metadata?: DaemonMetadata; reason?: string }, StartAttempt>('recheck'),
    /** Under the lock: removes stale metadata (and stale sockets); says whether it found a dead daemon's remains. */
    cleanStale: notProvided<{ deadFound: boolean }, WithMetadata<DaemonMetadata | undefined>>('cleanStale'),
    /** Under the lock: asks a daemon running another factory to drain, and waits until it has unpublished. */
    replaceDaemon: notProvided<void, StartAttempt>('replaceDaemon'),
    /**
     * Resolves once no record (metadata.json or its copy) names a live process that is
     * draining: the daemon on its way out has exited. Aborted by the start budget.
     */
    awaitExit: notProvided<void, StartAttempt>('awaitExit'),
    /** Starts the daemon process. */
    spawnDaemon: notProvided<DaemonLaunch, { attempt: StartAttempt; reason: StartReason }>('spawnDaemon'),
    /** Waits for the daemon's boot report: ready (metadata) or the factory's own error. */
    awaitReady: notProvided<DaemonMetadata, { attempt: StartAttempt; launch: DaemonLaunch }>('awaitReady'),
  },
  actions: {
    /** Releases the spawn lock (runs on leaving `locked`, whichever way). */
    releaseLock: (_, _params: { lock: HeldLock | undefined }) => {},
    forgetLock: assign({ lock: undefined }),
    recordLock: assign({ lock: (_, params: { lock: HeldLock | undefined }) => params.lock }),
    /** Remains of a dead daemon were found: a daemon started now is a restart. */
    recordDeadFound: assign({
      startReason: ({ context }, params: { deadFound: boolean }) => (params.deadFound && context.startReason === 'first' ? 'restart' : context.startReason),
    }),
    recordMetadata: assign({
      startReason: ({ context }, params: { read: MetadataRead }) => (params.read.status === 'malformed' ? 'restart' : context.startReason),
      metadata: (_, params: { read: MetadataRead }) => (params.read.status === 'valid' ? params.read.metadata : undefined),
      trail: ({ context }, params: { read: MetadataRead }) => [
        ...context.trail,
        params.read.status === 'valid'
          ? `metadata: pid ${params.read.metadata.pid}`
          : params.read.status === 'absent'
            ? 'metadata: absent'
            : `metadata: malformed (${params.read.reason})`,
      ],
    }),
    /** Under the lock, no usable daemon: what the recheck found, and why. */
    recordRecheck: assign({
      metadata: (_, params: { metadata: DaemonMetadata | undefined; reason: string | undefined }) => params.metadata,
      trail: ({ context }, params: { metadata: DaemonMetadata | undefined; reason: string | undefined }) => [
        ...context.trail,
        `under the lock: ${params.reason ?? 'no live daemon'}`,
      ],
    }),
    /** A daemon started now replaces one that runs another factory. */
    markReplacing: assign({ startReason: 'replace' as const }),
    countSpawn: assign({ spawns: ({ context }) => context.spawns + 1 }),
    recordConnection: assign({ connection: (_, params: { connection: Connection }) => params.connection }),
    recordStale: assign({
      startReason: ({ context }) => (context.startReason === 'first' ? 'restart' : context.startReason),
      trail: ({ context }, params: { error: unknown }) => [...context.trail, `not usable: ${describe(params.error)}`],
    }),
    recordNote: assign({ trail: ({ context }, params: { note: string }) => [...context.trail, params.note] }),
    recordSpawned: assign({ spawned: (_, params: { spawned: DaemonLaunch }) => params.spawned }),
    recordReady: assign({
      metadata: (_, params: { metadata: DaemonMetadata }) => params.metadata,
      trail: ({ context }, params: { metadata: DaemonMetadata }) => [...context.trail, `spawned: pid ${params.metadata.pid}`],
    }),
    recordError: assign({ error: (_, params: { error: unknown }) => params.error }),
    recordUnanswered: assign({
      error: (_, params: { error: unknown }) => params.error,
      unanswered: ({ context }) => context.unanswered + 1,
      // One line for the first, not one per retry.
      trail: ({ context }, params: { error: unknown }) =>
        context.unanswered === 0 ? [...context.trail, `alive but not answering: ${describe(params.error)}`] : context.trail,
    }),
    recordDraining: assign({
      error: (_, params: { error: unknown }) => params.error,
      trail: ({ context }, params: { error: unknown }) => [...context.trail, `draining: ${describe(params.error)}`],
    }),
    recordTimeout: assign({
      timedOutIn: ({ self }) => JSON.stringify(self.getSnapshot().value),
    }),
  },
  guards: {
    isValidMetadata: (_, params: { read: MetadataRead }) => params.read.status === 'valid',
    isFatal: (_, params: { error: unknown }) => FATAL_CODES.has(String(codeOf(params.error))),
    isUnresponsive: (_, params: { error: unknown }) => codeOf(params.error) === UNRESPONSIVE_CODE,
    /** The recorded daemon runs and its record says it is draining. */
    isDraining: (_, params: { error: unknown }) => codeOf(params.error) === DRAINING_CODE,
    isReplaceableMismatch: ({ context }, params: { error: unknown }) => context.replaceOnMismatch && codeOf(params.error) === 'ERR_FACTORY_MISMATCH',
    isLockAcquired: (_, params: { outcome: LockOutcome }) => params.outcome === 'acquired',
    hasConnection: (_, params: { connection: Connection | undefined }) => params.connection !== undefined,
    /** A spawned daemon that died unexplained is replaced at most this often per attempt. */
    canSpawnAgain: ({ context }) => context.spawns < MAX_SPAWNS,
  },
  delays: {
    /** The whole budget of one attempt (`startTimeoutMs`), from the input. */
    startTimeout: ({ context }) => Math.max(0, context.budgetMs),
    /** Between two tries of a live daemon that did not answer. */
    retryUnanswered: 50,
  },
});
