/**
 * The daemon's lifecycle. Pure definition: every effect is a named actor, action or delay
 * whose real implementation src/daemon/ attaches with `daemonMachine.provide(...)`.
 *
 *   starting { booting -> binding -> publishing } -> serving { idle <-> busy } -> draining -> stopped
 *   (any of them) -> failed
 *
 *   draining { closingIntake -> answering | forcing -> disposing -> closingConnections -> drained }
 *
 * The drain's steps are its sub-states. `closingIntake` (transient) closes the server, drops
 * the connections still in their handshake and closes the mailbox, graceful or forced; a
 * graceful drain then waits in `answering` until every accepted call is answered, a forced one
 * in `forcing` until the running call ends, for at most `forceGrace` (so the dispose hook never
 * overlaps a call). A forced shutdown during `answering` is the escalation: a transition to
 * `forcing` whose action closes the mailbox with force (any later step has no waiting call left
 * to refuse, and ignores a shutdown request). `disposing` runs the hosted object's
 * dispose hook for at most `disposeTimeout`; `closingConnections` half-closes every connection
 * and waits for the server to close, for at most `closeGrace`.
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
import { daemonSetup } from './daemon.setup.js';

export { CLOSE_GRACE_MS, type DaemonContext, type DaemonEvent, DISPOSE_TIMEOUT_MS, FORCE_GRACE_MS, type StopReason } from './daemon.setup.js';

/** A drain step that failed: the daemon fails, its error recorded (no step is expected to fail). */
const drainStepFailed = {
  target: '#daemon.failed',
  actions: { type: 'recordError', params: ({ event }: { event: { error: unknown } }) => ({ error: event.error, code: 'ERR_LOOPBACK_SINGLETON' as const }) },
} as const;

/** The daemon statechart. */
export const daemonMachine = daemonSetup.createMachine({
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
      initial: 'closingIntake',
      // Past the deadline the process exits even with a method running: a hosted method that
      // never settles must not keep a daemon (and its record) alive for good.
      after: { drainTimeout: { target: 'stopped', actions: 'reportAbandoned' } },
      onDone: 'stopped',
      states: {
        closingIntake: {
          entry: { type: 'closeIntake', params: ({ context }) => ({ force: context.force }) },
          always: [{ guard: 'isForced', target: 'forcing' }, { target: 'answering' }],
        },
        answering: {
          invoke: {
            id: 'answerCalls',
            src: 'answerCalls',
            onDone: 'disposing',
            onError: drainStepFailed,
          },
          on: {
            // The escalation: the waiting calls are refused, the running one gets the force grace.
            'shutdown.requested': {
              guard: { type: 'isEscalation', params: ({ event }) => ({ force: event.force }) },
              target: 'forcing',
              actions: ['recordForce', 'forceMailbox'],
            },
          },
        },
        forcing: {
          invoke: {
            id: 'finishRunning',
            src: 'finishRunning',
            onDone: 'disposing',
            onError: drainStepFailed,
          },
          after: { forceGrace: 'disposing' },
        },
        disposing: {
          invoke: {
            id: 'dispose',
            src: 'dispose',
            onDone: { target: 'closingConnections', actions: { type: 'reportDisposed', params: ({ event }) => ({ outcome: event.output }) } },
            onError: drainStepFailed,
          },
          after: { disposeTimeout: { target: 'closingConnections', actions: 'reportDisposeOverrun' } },
        },
        closingConnections: {
          invoke: {
            id: 'closeConnections',
            src: 'closeConnections',
            onDone: 'drained',
            onError: drainStepFailed,
          },
          after: { closeGrace: 'drained' },
        },
        drained: { type: 'final' },
      },
    },
    stopped: { type: 'final', entry: 'unpublish' },
    failed: { type: 'final', entry: 'reportFailure' },
  },
});
