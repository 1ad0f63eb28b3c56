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
import { clientSetup } from './client.setup.js';

export type { ClientContext, ClientInput, ClientOutput, LockOutcome, WithMetadata } from './client.setup.js';

/** The error an effect failed with, as the params of a guard or action on its error event. */
const errorOf = ({ event }: { event: { error: unknown } }) => ({ error: event.error });

/** An error no retry can fix (a factory error, a mismatch, another protocol version): the attempt ends with it. */
const fatalError = {
  guard: { type: 'isFatal', params: errorOf },
  target: '#client.failed',
  actions: { type: 'recordError', params: errorOf },
} as const;

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
 * ends the attempt, anything else spawns another (at most MAX_SPAWNS per attempt, ./client.setup.ts).
 */
const spawnedDaemonLost = [
  fatalError,
  { guard: 'canSpawnAgain', target: 'rechecking', actions: { type: 'recordStale', params: errorOf } },
  { target: '#client.failed', actions: { type: 'recordError', params: errorOf } },
] as const;

/** The client statechart. */
export const clientMachine = clientSetup.createMachine({
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
          fatalError,
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
                actions: { type: 'recordRecheck', params: ({ event }) => ({ metadata: event.output.metadata, reason: event.output.reason }) },
              },
            ],
            onError: [
              { guard: { type: 'isReplaceableMismatch', params: errorOf }, target: 'replacing' },
              fatalError,
              // Alive: nothing to clean or start; let go of the lock and wait for it.
              daemonDraining,
              daemonUnanswered,
              { target: 'cleaningStale', actions: { type: 'recordStale', params: errorOf } },
            ],
          },
        },
        replacing: {
          entry: 'markReplacing',
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
          entry: 'countSpawn',
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
