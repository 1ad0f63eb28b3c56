/**
 * A proxy supervising its daemon, the way an OTP supervisor supervises a child. Pure
 * definition: src/client/supervised.ts provides the effects with `.provide()`.
 *
 *   connected -> disconnected (daemon lost; calls in flight rejected, never replayed)
 *   disconnected -> reconnecting -> connected        (on the next call: rediscover, respawn)
 *   disconnected -> backingOff -> disconnected       (more than maxRestarts within periodMs)
 *   disconnected -> failed                           (restart: false)
 *   any -> disposed
 *
 * Calls never pass through this machine while connected: the runtime sends `call.requested`
 * only when it has no open connection, so the hot path stays a plain method call. Times come
 * in with the events (`now`), so the machine is pure and testable without a clock.
 */
import { assign, fromPromise, setup } from 'xstate';

/** A supervised proxy's restart intensity (OTP's intensity/period). */
export interface SupervisorPolicy {
  readonly maxRestarts: number;
  readonly periodMs: number;
}

/** The supervisor's context. */
export interface SupervisorContext {
  readonly policy: SupervisorPolicy | false;
  /** When each restart within the current period began (epoch ms), oldest first. */
  readonly restarts: readonly number[];
  /** While backing off: when the proxy may restart again (epoch ms). */
  readonly retryAt: number | undefined;
  /** Why the daemon was lost, or why the last restart failed. */
  readonly lastError: unknown;
}

/** Events the supervisor accepts. */
export type SupervisorEvent =
  | { readonly type: 'connection.lost'; readonly error: unknown }
  | { readonly type: 'call.requested'; readonly now: number }
  | { readonly type: 'proxy.disposed' };

/** Restarts that still count at `now`. */
function recent(context: SupervisorContext, now: number): readonly number[] {
  const { policy } = context;
  return policy === false ? [] : context.restarts.filter((at) => at > now - policy.periodMs);
}

/** The supervisor statechart. */
export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as { readonly policy: SupervisorPolicy | false },
  },
  actors: {
    /** Rediscovers or respawns the daemon and re-handshakes (one client-machine run). */
    reconnect: fromPromise<object>(async () => {
      throw new Error('supervisor machine: actor "reconnect" was not provided');
    }),
  },
  actions: {
    /** Takes the new connection into use (and watches it for loss). */
    attachConnection: (_, _params: { connection: object }) => {},
    /** Publishes a supervision event (daemon lost, restart, limit reached, reconnected). */
    report: (_, _params: { event: 'daemon-lost' | 'restart' | 'restart-limit' | 'reconnected' | 'restart-failed' }) => {},
    recordLoss: assign({ lastError: (_, params: { error: unknown }) => params.error }),
    recordRestart: assign({
      restarts: ({ context }, params: { now: number }) => [...recent(context, params.now), params.now],
      retryAt: undefined,
    }),
    recordBackoff: assign({
      restarts: ({ context }, params: { now: number }) => recent(context, params.now),
      retryAt: ({ context }, params: { now: number }) => {
        const window = recent(context, params.now);
        return (window[0] ?? params.now) + (context.policy === false ? 0 : context.policy.periodMs);
      },
    }),
  },
  guards: {
    isRestartDisabled: ({ context }) => context.policy === false,
    isRestartLimitReached: ({ context }, params: { now: number }) =>
      context.policy !== false && recent(context, params.now).length >= context.policy.maxRestarts,
  },
  delays: {
    /** Until `retryAt`: the rest of the current period. */
    backoff: ({ context, event }) => Math.max(0, (context.retryAt ?? 0) - ('now' in event ? event.now : 0)),
  },
}).createMachine({
  id: 'supervisor',
  initial: 'connected',
  context: ({ input }) => ({ policy: input.policy, restarts: [], retryAt: undefined, lastError: undefined }),
  on: {
    'proxy.disposed': '.disposed',
  },
  states: {
    connected: {
      on: {
        'connection.lost': {
          target: 'disconnected',
          actions: [
            { type: 'recordLoss', params: ({ event }) => ({ error: event.error }) },
            { type: 'report', params: { event: 'daemon-lost' } },
          ],
        },
      },
    },
    disconnected: {
      on: {
        'call.requested': [
          { guard: 'isRestartDisabled', target: 'failed' },
          {
            guard: { type: 'isRestartLimitReached', params: ({ event }) => ({ now: event.now }) },
            target: 'backingOff',
            actions: [
              { type: 'recordBackoff', params: ({ event }) => ({ now: event.now }) },
              { type: 'report', params: { event: 'restart-limit' } },
            ],
          },
          {
            target: 'reconnecting',
            actions: [
              { type: 'recordRestart', params: ({ event }) => ({ now: event.now }) },
              { type: 'report', params: { event: 'restart' } },
            ],
          },
        ],
      },
    },
    reconnecting: {
      invoke: {
        id: 'reconnect',
        src: 'reconnect',
        onDone: {
          target: 'connected',
          actions: [
            { type: 'attachConnection', params: ({ event }) => ({ connection: event.output }) },
            { type: 'report', params: { event: 'reconnected' } },
          ],
        },
        onError: {
          target: 'disconnected',
          actions: [
            { type: 'recordLoss', params: ({ event }) => ({ error: event.error }) },
            { type: 'report', params: { event: 'restart-failed' } },
          ],
        },
      },
    },
    backingOff: {
      after: { backoff: 'disconnected' },
    },
    failed: {},
    disposed: { type: 'final' },
  },
});

/** The supervisor machine's type, for code that provides its effects. */
export type SupervisorMachine = typeof supervisorMachine;
