/**
 * What the daemon statechart (./daemon.machine.ts) works with: its context and events, its
 * timing constants, and the named effects its states refer to (actors, actions, guards,
 * delays), declared here with placeholders that src/daemon/ replaces with
 * `daemonMachine.provide(...)`. The actions that only change context are complete here.
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

/** How long a forced drain lets the running call finish before the dispose hook runs. */
export const FORCE_GRACE_MS = 2000;
/** The most the hosted object's dispose hook may take. */
export const DISPOSE_TIMEOUT_MS = 5000;
/** Grace for connections to flush their last replies before the daemon stops. */
export const CLOSE_GRACE_MS = 1500;

const notProvided = (name: string) =>
  fromPromise<void, unknown>(async () => {
    throw new Error(`daemon machine: actor "${name}" was not provided`);
  });

/**
 * A local fault the library itself reported (a token file that is not private) is the user's
 * to fix, not a failure of the step it happened in: it keeps its own code. So does a cluster
 * registry that did not answer (`ERR_REGISTRY_UNAVAILABLE`, publishing): the spawner is told
 * etcd is the cause. Any other error, this package's included, is recorded under the step's
 * code, its own code kept aside.
 */
function keepsOwnCode(error: Error): error is Error & { readonly code: string } {
  const { code } = error as { code?: unknown };
  return (error.name === 'LoopbackSingletonError' && code === 'ERR_LOOPBACK_SINGLETON') || (error.name === 'RegistryError' && code === 'ERR_REGISTRY_UNAVAILABLE');
}

/** The daemon statechart's types and named effects: `daemonSetup.createMachine(...)` is the chart. */
export const daemonSetup = setup({
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
    /** Resolves once every call the mailbox accepted has been answered (the mailbox is closed). */
    answerCalls: notProvided('answerCalls'),
    /** Resolves once no call runs: a forced close answered the waiting ones. */
    finishRunning: notProvided('finishRunning'),
    /** Runs the hosted object's dispose hook; resolves with what happened, for the log. */
    dispose: fromPromise<string | undefined, unknown>(async () => {
      throw new Error('daemon machine: actor "dispose" was not provided');
    }),
    /** Half-closes every connection; resolves once the server (and any it replaced) has closed. */
    closeConnections: notProvided('closeConnections'),
  },
  actions: {
    /** Tells the spawner the daemon is ready (metadata is published). */
    reportReady: () => {},
    /** Unpublishes, tells the spawner (if still listening) and logs why the daemon failed. */
    reportFailure: () => {},
    /** Closes the server, drops connections still in their handshake, closes the mailbox (forced or not). */
    closeIntake: (_, _params: { force: boolean }) => {},
    /** Closes the mailbox with force: its waiting calls are refused, never run. */
    forceMailbox: () => {},
    /** Logs how the dispose hook ended (nothing when the object has none). */
    reportDisposed: (_, _params: { outcome: string | undefined }) => {},
    /** Logs that the dispose hook outran `disposeTimeout`: the drain goes on without it. */
    reportDisposeOverrun: () => {},
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
      error: (_, params: { error: unknown; code: ErrorCode }) => errorToWire(params.error, params.code, keepsOwnCode),
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
    /** The drain skips the calls still waiting. */
    isForced: ({ context }) => context.force,
  },
  delays: {
    /** How long the daemon waits with zero connections before draining. */
    idleTtl: 2000,
    /** The most `starting` (booting, binding and publishing together) may take. */
    bootTimeout: 5000,
    /** The most `draining` may take, from its start (`drainTimeoutMs`). */
    drainTimeout: 5000,
    /** How long `forcing` waits for the running call. */
    forceGrace: FORCE_GRACE_MS,
    /** How long `disposing` waits for the dispose hook. */
    disposeTimeout: DISPOSE_TIMEOUT_MS,
    /** How long `closingConnections` waits for the server to close. */
    closeGrace: CLOSE_GRACE_MS,
  },
});
