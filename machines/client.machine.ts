/**
 * The client's lifecycle for one connect attempt, bounded by `startTimeout`. Pure
 * definition: src/client/starter.ts provides every effect with `clientMachine.provide()`.
 *
 *   discovering -> connecting -> connected
 *        |   ^          | (absent, stale, dead)      | (alive but not answering)    | (draining)
 *        v   |          v                            v                              v
 *        |   +------------------------------------ waiting, awaitingExit <---------+
 *     locking -> locked { rechecking [-> replacing] -> cleaningStale -> spawning -> awaitingReady -> connecting }
 *                   -> connected            (the lock is released on leaving `locked`)
 *   any -> failed   (FactoryError, FactoryMismatchError, a daemon of another protocol
 *                    version, timeout)
 *
 * Liveness is not responsiveness: a daemon whose recorded process still runs (pid and start
 * time) is never cleaned up or replaced because it answers slowly or not at all. The attempt
 * waits and tries it again until `startTimeout`, then fails with `ERR_DAEMON_UNRESPONSIVE`.
 * Only a dead recorded process (or a pid now used by another process) is stale.
 *
 * A draining daemon keeps its record until its process exits: a client that finds it (at
 * discovery, or under the lock) lets go of the lock and waits in `awaitingExit` for that
 * process to exit (within the same budget), then starts over: never a daemon beside it.
 *
 * The lock is held for exactly as long as the machine is inside `locked`: from "no live
 * daemon found" until the new daemon's metadata is published and a handshake succeeded,
 * or the attempt failed.
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
 * code is a local fault the caller must fix (a token file that is not private, say).
 */
const FATAL_CODES = new Set(['ERR_FACTORY_MISMATCH', 'ERR_PROTOCOL_VERSION', 'ERR_FACTORY', 'ERR_LOOPBACK_SINGLETON']);

/** The connect effect's verdict on a daemon whose process runs but that did not complete a handshake. */
const UNRESPONSIVE_CODE = 'ERR_DAEMON_UNRESPONSIVE';

/** The connect effect's verdict on a live daemon whose record says it is draining. */
const DRAINING_CODE = 'ERR_DAEMON_DRAINING';

/** The error an effect failed with, as the params of a guard or action on its error event. */
const errorOf = ({ event }: { event: { error: unknown } }) => ({ error: event.error });

/** A live daemon on its way out: wait for its process to exit, then start over. */
const daemonDraining = {
  guard: { type: 'isDraining', params: errorOf },
  target: '#client.awaitingExit',
  actions: { type: 'recordDraining', params: errorOf },
} as const;

/** A live daemon that did not answer: leave it alone, wait, and try it again. */
const daemonUnanswered = {
  guard: { type: 'isUnresponsive', params: errorOf },
  target: '#client.waiting',
  actions: { type: 'recordUnanswered', params: errorOf },
} as const;

/**
 * When the daemon this attempt spawned fails before the handshake completes: a fatal error
 * ends the attempt, anything else spawns another (at most MAX_SPAWNS per attempt).
 */
const spawnedDaemonLost = [
  {
    guard: { type: 'isFatal', params: errorOf },
    target: '#client.failed',
    actions: { type: 'recordError', params: errorOf },
  },
  { guard: 'canSpawnAgain', target: 'rechecking', actions: { type: 'recordStale', params: errorOf } },
  { target: '#client.failed', actions: { type: 'recordError', params: errorOf } },
] as const;

/** The client statechart. */
export const clientMachine = setup({
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
}).createMachine({
  id: 'client',
  initial: 'discovering',
  context: ({ input }) => ({
    attempt: input.attempt,
    budgetMs: input.budgetMs,
    replaceOnMismatch: input.replaceOnMismatch,
    startReason: input.restart ? 'restart' : 'first',
    spawns: 0,
    metadata: undefined,
    connection: undefined,
    lock: undefined,
    spawned: undefined,
    error: undefined,
    timedOutIn: undefined,
    trail: [],
    unanswered: 0,
  }),
  output: ({ context }) => ({
    connection: context.connection,
    error: context.error,
    timedOutIn: context.timedOutIn,
    trail: context.trail,
    unanswered: context.unanswered,
    metadata: context.metadata,
    spawned: context.spawned,
  }),
  after: {
    startTimeout: { target: '.failed', actions: 'recordTimeout' },
  },
  states: {
    discovering: {
      invoke: {
        id: 'readMetadata',
        src: 'readMetadata',
        input: ({ context }) => context.attempt,
        onDone: [
          {
            guard: { type: 'isValidMetadata', params: ({ event }) => ({ read: event.output }) },
            target: 'connecting',
            actions: { type: 'recordMetadata', params: ({ event }) => ({ read: event.output }) },
          },
          { target: 'locking', actions: { type: 'recordMetadata', params: ({ event }) => ({ read: event.output }) } },
        ],
        onError: { target: 'failed', actions: { type: 'recordError', params: errorOf } },
      },
    },
    connecting: {
      invoke: {
        id: 'connect',
        src: 'connect',
        input: ({ context }) => ({ attempt: context.attempt, metadata: context.metadata! }),
        onDone: { target: 'connected', actions: { type: 'recordConnection', params: ({ event }) => ({ connection: event.output }) } },
        onError: [
          {
            guard: { type: 'isReplaceableMismatch', params: errorOf },
            target: 'locking',
            actions: { type: 'recordNote', params: { note: 'it runs another factory: replacing it' } },
          },
          {
            guard: { type: 'isFatal', params: errorOf },
            target: 'failed',
            actions: { type: 'recordError', params: errorOf },
          },
          daemonDraining,
          daemonUnanswered,
          { target: 'locking', actions: { type: 'recordStale', params: errorOf } },
        ],
      },
    },
    // The recorded daemon runs but did not answer: try it again (its record is read afresh:
    // it may have exited, or published again) until the start budget runs out.
    waiting: {
      after: { retryUnanswered: 'discovering' },
    },
    // The recorded daemon is draining: it keeps its record until it exits. Wait for its process
    // to exit (its drain has a deadline), then discover afresh.
    awaitingExit: {
      invoke: { id: 'awaitExit', src: 'awaitExit', input: ({ context }) => context.attempt, onDone: 'discovering' },
    },
    locking: {
      invoke: {
        id: 'acquireLock',
        src: 'acquireLock',
        input: ({ context }) => ({ attempt: context.attempt, metadata: context.metadata }),
        onDone: [
          {
            guard: { type: 'isLockAcquired', params: ({ event }) => ({ outcome: event.output.outcome }) },
            target: 'locked',
            actions: { type: 'recordLock', params: ({ event }) => ({ lock: event.output.lock }) },
          },
          { target: 'discovering', actions: { type: 'recordNote', params: { note: 'a daemon was published while waiting for the lock' } } },
        ],
        onError: { target: 'failed', actions: { type: 'recordError', params: errorOf } },
      },
    },
    locked: {
      initial: 'rechecking',
      exit: [{ type: 'releaseLock', params: ({ context }) => ({ lock: context.lock }) }, 'forgetLock'],
      states: {
        rechecking: {
          invoke: {
            id: 'recheck',
            src: 'recheck',
            input: ({ context }) => context.attempt,
            onDone: [
              {
                guard: { type: 'hasConnection', params: ({ event }) => ({ connection: event.output.connection }) },
                target: '#client.connected',
                actions: { type: 'recordConnection', params: ({ event }) => ({ connection: event.output.connection! }) },
              },
              {
                target: 'cleaningStale',
                actions: assign({
                  metadata: ({ event }) => event.output.metadata,
                  trail: ({ context, event }) => [...context.trail, `under the lock: ${event.output.reason ?? 'no live daemon'}`],
                }),
              },
            ],
            onError: [
              { guard: { type: 'isReplaceableMismatch', params: errorOf }, target: 'replacing' },
              {
                guard: { type: 'isFatal', params: errorOf },
                target: '#client.failed',
                actions: { type: 'recordError', params: errorOf },
              },
              // Alive: nothing to clean or start; let go of the lock and wait for it.
              daemonDraining,
              daemonUnanswered,
              { target: 'cleaningStale', actions: { type: 'recordStale', params: errorOf } },
            ],
          },
        },
        replacing: {
          entry: assign({ startReason: 'replace' as const }),
          invoke: {
            id: 'replaceDaemon',
            src: 'replaceDaemon',
            input: ({ context }) => context.attempt,
            onDone: { target: 'cleaningStale', actions: { type: 'recordNote', params: { note: 'the mismatched daemon drained' } } },
            onError: { target: '#client.failed', actions: { type: 'recordError', params: errorOf } },
          },
        },
        cleaningStale: {
          invoke: {
            id: 'cleanStale',
            src: 'cleanStale',
            input: ({ context }) => ({ attempt: context.attempt, metadata: context.metadata }),
            onDone: { target: 'spawning', actions: { type: 'recordDeadFound', params: ({ event }) => ({ deadFound: event.output.deadFound }) } },
            onError: { target: '#client.failed', actions: { type: 'recordError', params: errorOf } },
          },
        },
        spawning: {
          entry: assign({ spawns: ({ context }) => context.spawns + 1 }),
          invoke: {
            id: 'spawnDaemon',
            src: 'spawnDaemon',
            input: ({ context }) => ({ attempt: context.attempt, reason: context.startReason }),
            onDone: { target: 'awaitingReady', actions: { type: 'recordSpawned', params: ({ event }) => ({ spawned: event.output }) } },
            onError: { target: '#client.failed', actions: { type: 'recordError', params: errorOf } },
          },
        },
        awaitingReady: {
          invoke: {
            id: 'awaitReady',
            src: 'awaitReady',
            input: ({ context }) => ({ attempt: context.attempt, launch: context.spawned! }),
            onDone: { target: 'connecting', actions: { type: 'recordReady', params: ({ event }) => ({ metadata: event.output }) } },
            // The factory's own failure is final; a daemon that died before it could report
            // (killed, crashed natively) is stale like any other: start another, a few times.
            onError: spawnedDaemonLost,
          },
        },
        connecting: {
          invoke: {
            id: 'connectSpawned',
            src: 'connect',
            input: ({ context }) => ({ attempt: context.attempt, metadata: context.metadata! }),
            onDone: {
              target: '#client.connected',
              actions: { type: 'recordConnection', params: ({ event }) => ({ connection: event.output }) },
            },
            // The new daemon went away between publishing and our handshake: start another. If it
            // still runs, it is busy or stopped: wait for it like any live daemon.
            onError: [daemonUnanswered, ...spawnedDaemonLost],
          },
        },
      },
    },
    connected: { type: 'final' },
    failed: { type: 'final' },
  },
});
