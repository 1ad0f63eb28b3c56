/**
 * The daemon's lifecycle. Pure definition: every effect is a named actor, action or delay
 * whose real implementation src/daemon/ attaches with `daemonMachine.provide(...)`.
 *
 *   starting { booting -> binding -> publishing } -> serving { idle <-> busy } -> draining -> stopped
 *   (any of them) -> failed
 *
 * `serving.idle` counts down `idleTtl` whenever no authenticated connection is open, from
 * the moment the daemon starts serving, so a daemon nobody reaches exits too.
 *
 * The record lives as long as the process: `draining` marks metadata.json draining (clients
 * wait for the process to exit instead of starting a second daemon beside it), and the record
 * is removed only on entering `stopped`, as the process exits. `draining` has a deadline
 * (`drainTimeout`, from the drain's start): past it the daemon stops even with a method still
 * running, and logs the calls it abandoned.
 */
import { assign, fromPromise, setup } from 'xstate';
import { errorToWire, type ErrorCode, type WireError } from '../src/errors.js';

/** Why the daemon left `serving`. */
export type StopReason = 'idle' | 'shutdown' | 'fatal';

/** The daemon machine's context. */
export interface DaemonContext {
  /** Open authenticated connections. */
  readonly active: number;
  /** Whether a shutdown asked to skip queued calls. */
  readonly force: boolean;
  readonly stopReason: StopReason | undefined;
  /** Why the daemon failed, once it has. */
  readonly error: WireError | undefined;
}

/** Events the daemon machine accepts. */
export type DaemonEvent =
  | { readonly type: 'connection.opened' }
  | { readonly type: 'connection.closed' }
  | { readonly type: 'shutdown.requested'; readonly force: boolean }
  | { readonly type: 'daemon.crashed'; readonly error: WireError };

/** What the drain actor is asked to do. */
export interface DrainInput {
  readonly force: boolean;
}

const notProvided = (name: string) =>
  fromPromise<void, unknown>(async () => {
    throw new Error(`daemon machine: actor "${name}" was not provided`);
  });

/**
 * A local fault the library itself reported (a token file that is not private) is the user's
 * to fix, not a failure of the step it happened in: it keeps its own code. Any other error,
 * this package's included, is recorded under the step's code, its own code kept aside.
 */
function isLocalFault(error: Error): error is Error & { readonly code: string } {
  return error.name === 'LoopbackSingletonError' && (error as { code?: unknown }).code === 'ERR_LOOPBACK_SINGLETON';
}

/** The daemon statechart. */
export const daemonMachine = setup({
  types: {
    context: {} as DaemonContext,
    events: {} as DaemonEvent,
  },
  actors: {
    /** Imports the factory module and constructs the hosted object. */
    loadObject: notProvided('loadObject'),
    /** Binds the listening socket (127.0.0.1:0 or a Unix socket). */
    bindServer: notProvided('bindServer'),
    /** Writes metadata.json atomically. */
    publishMetadata: notProvided('publishMetadata'),
    /** Stops accepting, answers accepted calls, runs the dispose hook, closes connections. */
    drain: fromPromise<void, DrainInput>(async () => {
      throw new Error('daemon machine: actor "drain" was not provided');
    }),
  },
  actions: {
    /** Tells the spawner the daemon is ready (metadata is published). */
    reportReady: () => {},
    /** Unpublishes, tells the spawner (if still listening) and logs why the daemon failed. */
    reportFailure: () => {},
    /** A forced shutdown arrived while a graceful drain runs: stop waiting for the queue. */
    escalateDrain: () => {},
    /** Rewrites the daemon's record (and its copy) marked draining: it stays until the process exits. */
    markDraining: () => {},
    /** The drain deadline passed: logs the calls still running or waiting, which are abandoned. */
    reportAbandoned: () => {},
    /** Removes the daemon's record and its copy (compare-and-delete on its instanceId). */
    unpublish: () => {},
    recordOpened: assign({ active: ({ context }) => context.active + 1 }),
    recordClosed: assign({ active: ({ context }) => Math.max(0, context.active - 1) }),
    recordShutdown: assign({
      force: (_, params: { force: boolean }) => params.force,
      stopReason: 'shutdown' as const,
    }),
    recordForce: assign({ force: true }),
    recordIdle: assign({ stopReason: 'idle' as const }),
    recordCrash: assign({
      error: (_, params: { error: WireError }) => params.error,
      stopReason: 'fatal' as const,
    }),
    recordError: assign({
      error: (_, params: { error: unknown; code: ErrorCode }) => errorToWire(params.error, params.code, isLocalFault),
    }),
    recordBootTimeout: assign({
      error: ({ self }) => {
        // Which step hung decides what the spawner is told: a hanging factory is a FactoryError.
        const snapshot = self.getSnapshot();
        const [step, code] = snapshot.matches({ starting: 'booting' })
          ? ['creating the object (the factory is hanging)', 'ERR_FACTORY']
          : snapshot.matches({ starting: 'binding' })
            ? ['binding its socket', 'ERR_CONNECTION_FAILED']
            : ['publishing its metadata', 'ERR_LOOPBACK_SINGLETON'];
        return { code, name: 'Error', message: `The daemon did not finish ${step} within its boot timeout` };
      },
    }),
  },
  guards: {
    hasNoConnections: ({ context }) => context.active === 0,
    hasConnections: ({ context }) => context.active > 0,
    /** A forced shutdown while the drain is still graceful. */
    isEscalation: ({ context }, params: { force: boolean }) => params.force && !context.force,
  },
  delays: {
    /** How long the daemon waits with zero connections before draining. */
    idleTtl: 2000,
    /** The most `starting` (booting, binding and publishing together) may take. */
    bootTimeout: 5000,
    /** The most `draining` may take, from its start (`drainTimeoutMs`). */
    drainTimeout: 5000,
  },
}).createMachine({
  id: 'daemon',
  initial: 'starting',
  context: { active: 0, force: false, stopReason: undefined, error: undefined },
  on: {
    // Counted in every state: the count must be right whenever serving begins or resumes.
    'connection.opened': { actions: 'recordOpened' },
    'connection.closed': { actions: 'recordClosed' },
    'daemon.crashed': {
      target: '.failed',
      actions: { type: 'recordCrash', params: ({ event }) => ({ error: event.error }) },
    },
  },
  states: {
    starting: {
      initial: 'booting',
      on: {
        // A stop request during start-up is honoured: drain what little there is and exit.
        'shutdown.requested': {
          target: 'draining',
          actions: { type: 'recordShutdown', params: ({ event }) => ({ force: event.force }) },
        },
      },
      // One budget for the whole start (the spawner's startTimeoutMs).
      after: { bootTimeout: { target: 'failed', actions: 'recordBootTimeout' } },
      states: {
        booting: {
          invoke: {
            id: 'loadObject',
            src: 'loadObject',
            onDone: 'binding',
            onError: { target: '#daemon.failed', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error, code: 'ERR_FACTORY' }) } },
          },
        },
        binding: {
          invoke: {
            id: 'bindServer',
            src: 'bindServer',
            onDone: 'publishing',
            onError: { target: '#daemon.failed', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error, code: 'ERR_CONNECTION_FAILED' }) } },
          },
        },
        publishing: {
          invoke: {
            id: 'publishMetadata',
            src: 'publishMetadata',
            onDone: '#daemon.serving',
            onError: { target: '#daemon.failed', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error, code: 'ERR_LOOPBACK_SINGLETON' }) } },
          },
        },
      },
    },
    serving: {
      entry: 'reportReady',
      initial: 'idle',
      on: {
        'connection.opened': { target: '.busy', actions: 'recordOpened' },
        'shutdown.requested': {
          target: 'draining',
          actions: { type: 'recordShutdown', params: ({ event }) => ({ force: event.force }) },
        },
      },
      states: {
        idle: {
          always: { guard: 'hasConnections', target: 'busy' },
          after: { idleTtl: { target: '#daemon.draining', actions: 'recordIdle' } },
        },
        busy: {
          always: { guard: 'hasNoConnections', target: 'idle' },
        },
      },
    },
    draining: {
      entry: 'markDraining',
      // Past the deadline the process exits even with a method running: a hosted method that
      // never settles must not keep a daemon (and its record) alive for good.
      after: { drainTimeout: { target: 'stopped', actions: 'reportAbandoned' } },
      invoke: {
        id: 'drain',
        src: 'drain',
        input: ({ context }) => ({ force: context.force }),
        onDone: 'stopped',
        onError: { target: 'failed', actions: { type: 'recordError', params: ({ event }) => ({ error: event.error, code: 'ERR_LOOPBACK_SINGLETON' }) } },
      },
      on: {
        'shutdown.requested': {
          guard: { type: 'isEscalation', params: ({ event }) => ({ force: event.force }) },
          actions: ['recordForce', 'escalateDrain'],
        },
      },
    },
    stopped: { type: 'final', entry: 'unpublish' },
    failed: { type: 'final', entry: 'reportFailure' },
  },
});
