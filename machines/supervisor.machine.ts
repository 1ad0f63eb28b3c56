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
 * Never a silent change of object: a lost daemon that no caller was told of (no call was in
 * flight, no restart failed) is kept as `untold`; when the restart reaches another daemon
 * instance, `objectChange` names the call that asked for the restart, and that call fails,
 * unsent, with ERR_DAEMON_LOST. The calls after it go to the new object.
 *
 * A restart counts toward the intensity only when it does not end at the daemon instance
 * whose connection was lost: a connection dropped while its daemon lives on (and is found
 * again) is no restart of the child.
 *
 * Calls never pass through this machine while connected: the runtime sends `call.requested`
 * only when it has no open connection, so the hot path stays a plain method call. Times come
 * in with the events (`now`), so the machine is pure and testable without a clock.
 */
import { assign, fromPromise, setup } from 'xstate';
import type { Connection } from '../src/client/connection.js';
import type { RestartPolicy } from '../src/options.js';

/** Which daemon process a connection reached. */
export interface DaemonInstance {
  readonly pid: number;
  readonly instanceId: string;
}

/** What a restart yields: the new connection, and the daemon it reached. */
export interface Reconnected {
  readonly connection: Connection;
  readonly daemon: DaemonInstance;
}

/** The supervision events a proxy reports (src/diagnostics.ts publishes them). */
export type SupervisionReport = 'daemon-lost' | 'restart' | 'restart-limit' | 'reconnected' | 'restart-failed';

/** The proxy's side, given at start (input) and kept in context: what the effects act on. */
export interface SupervisedProxy {
  /** One client-machine run: finds or starts the daemon again. */
  reconnect(): Promise<Connection>;
  /** Takes the new connection into use (and watches it for loss). */
  attach(connection: Connection): void;
  /** Publishes a supervision event. */
  report(event: SupervisionReport, restarts: number, retryAt: number | undefined): void;
}

/** What the supervisor is told at start. */
export interface SupervisorInput {
  readonly policy: RestartPolicy | false;
  readonly proxy: SupervisedProxy;
}

/** A lost daemon no caller has been told of yet. */
export interface UntoldLoss {
  readonly daemon: DaemonInstance;
  readonly error: unknown;
}

/** The restart reached another daemon instance than the one lost untold: call `callId` must fail, unsent. */
export interface ObjectChange {
  readonly lost: DaemonInstance;
  readonly now: DaemonInstance;
  readonly error: unknown;
  readonly callId: number;
}

/** The supervisor's context. */
export interface SupervisorContext {
  readonly proxy: SupervisedProxy;
  readonly policy: RestartPolicy | false;
  /** When each restart within the current period began (epoch ms), oldest first. */
  readonly restarts: readonly number[];
  /** The daemon instance whose connection was lost last: a restart that finds it again is no restart. */
  readonly lostInstance: string | undefined;
  /** While backing off: when the proxy may restart again (epoch ms). */
  readonly retryAt: number | undefined;
  /** Why the daemon was lost, or why the last restart failed. */
  readonly lastError: unknown;
  /** The daemon lost while no call learned of it, until a caller is told. */
  readonly untold: UntoldLoss | undefined;
  /** The call whose request started the current (or last) restart. */
  readonly restartedBy: number | undefined;
  /** Set by a restart that moved this proxy to a new object without any caller told. */
  readonly objectChange: ObjectChange | undefined;
}

/** Events the supervisor accepts. */
export type SupervisorEvent =
  /** `rejected`: how many requests in flight failed with the loss (and so told their callers). */
  | { readonly type: 'connection.lost'; readonly error: unknown; readonly daemon: DaemonInstance; readonly rejected: number }
  /** `callId`: which call asks, unique per proxy. */
  | { readonly type: 'call.requested'; readonly now: number; readonly callId: number }
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
    input: {} as SupervisorInput,
  },
  actors: {
    /** Rediscovers or respawns the daemon and re-handshakes (one client-machine run). */
    reconnect: fromPromise<Reconnected, SupervisedProxy>(async () => {
      throw new Error('supervisor machine: actor "reconnect" was not provided');
    }),
  },
  actions: {
    /** Takes the new connection into use (and watches it for loss). */
    attachConnection: (_, _params: { connection: Connection }) => {},
    /** Publishes a supervision event (daemon lost, restart, limit reached, reconnected). */
    report: (_, _params: { event: SupervisionReport }) => {},
    recordLoss: assign({ lastError: (_, params: { error: unknown }) => params.error }),
    /** The first loss nobody was told of stays the one to tell: the object the caller last used. */
    recordUntold: assign({
      untold: ({ context }, params: { error: unknown; daemon: DaemonInstance; rejected: number }) =>
        params.rejected > 0 ? undefined : (context.untold ?? { daemon: params.daemon, error: params.error }),
    }),
    recordLostInstance: assign({ lostInstance: (_, params: { daemon: DaemonInstance }) => params.daemon.instanceId }),
    /** The restart found the very instance that was lost (only the connection was): it does not count. */
    uncountSameInstance: assign({
      restarts: ({ context }, params: { daemon: DaemonInstance }) =>
        context.lostInstance === params.daemon.instanceId ? context.restarts.slice(0, -1) : context.restarts,
    }),
    /** A caller got an error after the loss (a failed restart, a limit, no restarts): it was told. */
    forgetUntold: assign({ untold: undefined }),
    recordRestart: assign({
      restarts: ({ context }, params: { now: number; callId: number }) => [...recent(context, params.now), params.now],
      retryAt: undefined,
      restartedBy: (_, params: { now: number; callId: number }) => params.callId,
    }),
    judgeObjectChange: assign({
      objectChange: ({ context }, params: { daemon: DaemonInstance }) =>
        context.untold !== undefined && context.untold.daemon.instanceId !== params.daemon.instanceId
          ? { lost: context.untold.daemon, now: params.daemon, error: context.untold.error, callId: context.restartedBy ?? 0 }
          : undefined,
      untold: undefined,
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
    isRestartLimitReached: ({ context }, params: { now: number }) => context.policy !== false && recent(context, params.now).length >= context.policy.maxRestarts,
  },
  delays: {
    /** Until `retryAt`: the rest of the current period. */
    backoff: ({ context, event }) => Math.max(0, (context.retryAt ?? 0) - ('now' in event ? event.now : 0)),
  },
}).createMachine({
  id: 'supervisor',
  initial: 'connected',
  context: ({ input }) => ({
    proxy: input.proxy,
    policy: input.policy,
    restarts: [],
    lostInstance: undefined,
    retryAt: undefined,
    lastError: undefined,
    untold: undefined,
    restartedBy: undefined,
    objectChange: undefined,
  }),
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
            { type: 'recordUntold', params: ({ event }) => ({ error: event.error, daemon: event.daemon, rejected: event.rejected }) },
            { type: 'recordLostInstance', params: ({ event }) => ({ daemon: event.daemon }) },
            { type: 'report', params: { event: 'daemon-lost' } },
          ],
        },
      },
    },
    disconnected: {
      on: {
        'call.requested': [
          { guard: 'isRestartDisabled', target: 'failed', actions: 'forgetUntold' },
          {
            guard: { type: 'isRestartLimitReached', params: ({ event }) => ({ now: event.now }) },
            target: 'backingOff',
            actions: [{ type: 'recordBackoff', params: ({ event }) => ({ now: event.now }) }, 'forgetUntold', { type: 'report', params: { event: 'restart-limit' } }],
          },
          {
            target: 'reconnecting',
            actions: [
              { type: 'recordRestart', params: ({ event }) => ({ now: event.now, callId: event.callId }) },
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
        input: ({ context }) => context.proxy,
        onDone: {
          target: 'connected',
          actions: [
            { type: 'judgeObjectChange', params: ({ event }) => ({ daemon: event.output.daemon }) },
            { type: 'uncountSameInstance', params: ({ event }) => ({ daemon: event.output.daemon }) },
            { type: 'attachConnection', params: ({ event }) => ({ connection: event.output.connection }) },
            { type: 'report', params: { event: 'reconnected' } },
          ],
        },
        onError: {
          target: 'disconnected',
          actions: [{ type: 'recordLoss', params: ({ event }) => ({ error: event.error }) }, 'forgetUntold', { type: 'report', params: { event: 'restart-failed' } }],
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
