/**
 * A proxy's connection under supervision: the supervisor statechart
 * (machines/supervisor.machine.ts) with its effects provided. While connected, a call goes
 * straight to the connection; only a call that finds no open connection enters the machine,
 * which restarts the daemon (at most as often as the policy allows) or fails fast.
 */
import { createActor, fromPromise, waitFor, type Actor } from 'xstate';
import { supervisorMachine, type DaemonInstance, type SupervisedProxy } from '../../machines/supervisor.machine.js';
import type { RestartPolicy } from '../options.js';
import { publish, type ClientEvent } from '../diagnostics.js';
import { inspector } from '../inspect.js';
import { ConnectionFailedError, DaemonConnectionError, HandshakeError, RestartLimitError } from '../errors.js';
import type { CallOptions, Connection } from './connection.js';
import type { EventSink } from './event-router.js';

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Which daemon `connection` reached, as the supervisor statechart knows daemons. */
function instanceOf(connection: Connection): DaemonInstance {
  return { pid: connection.welcome.pid, instanceId: connection.welcome.instanceId };
}

// xstate's timers must not keep the host process alive: an idle proxy never does.
const unrefClock = {
  setTimeout: (fn: (...args: unknown[]) => void, ms: number) => setTimeout(fn, ms).unref(),
  clearTimeout: (id: unknown) => clearTimeout(id as NodeJS.Timeout),
};

/**
 * How long closing a proxy lets its in-flight calls settle before it rejects them: a call that
 * never settles (or a daemon that never answers) must not hold the caller's `await using`.
 */
export const CLOSE_GRACE_MS = 250;

/**
 * A connection that survives its daemon: the target of a `Remote<T>`. It never moves to
 * another daemon instance silently: the supervisor statechart tells which call must fail,
 * unsent, with `ERR_DAEMON_LOST` (its `objectChange`), so the caller learns that the object's
 * state was lost before anything reaches the new object.
 */
export class SupervisedConnection {
  /**
   * The supervisor statechart with its effects, provided once: `provide()` builds a new
   * machine, which a new proxy would pay for. The effects act on the proxy the machine was
   * given as its input (`SupervisedProxy`, in its context).
   */
  static readonly #machine = supervisorMachine.provide({
    actors: {
      reconnect: fromPromise(async ({ input: proxy, signal }) => {
        const fresh = await proxy.reconnect();
        // Disposed meanwhile: the new connection has no one to serve.
        if (signal.aborted) {
          fresh.close();
          throw signal.reason;
        }
        return { connection: fresh, daemon: instanceOf(fresh) };
      }),
    },
    actions: {
      attachConnection: ({ context }, { connection }) => context.proxy.attach(connection),
      report: ({ context }, { event }) => context.proxy.report(event, context.restarts.length, context.retryAt),
    },
  });

  readonly #name: string;
  readonly #reconnect: () => Promise<Connection>;
  readonly #actor: Actor<typeof supervisorMachine>;
  #connection: Connection;
  #detach: () => void = () => {};
  /** The last id given to a call that found no open connection (the statechart's `callId`). */
  #callIds = 0;

  /**
   * @param connection the connection the proxy starts with
   * @param reconnect one client-machine run: finds or starts the daemon again
   */
  constructor(name: string, connection: Connection, policy: RestartPolicy | false, reconnect: () => Promise<Connection>) {
    this.#name = name;
    this.#reconnect = reconnect;
    this.#connection = connection;
    const proxy: SupervisedProxy = {
      reconnect: () => this.#reconnect(),
      attach: (fresh) => this.#attach(fresh),
      report: (event, restarts, retryAt) => this.#report(event, restarts, retryAt),
    };
    this.#actor = createActor(SupervisedConnection.#machine, { input: { policy, proxy }, clock: unrefClock, inspect: inspector('supervisor', name) });
    this.#actor.start();
    this.#attach(connection);
  }

  /**
   * What the proxy shows when inspected, from what this process already knows: the supervisor
   * statechart's state (`connected`, `disconnected`, `reconnecting`, `backingOff`, `failed`,
   * `disposed`) and the pid of the daemon last reached. No I/O, no call.
   */
  get status(): { readonly state: string; readonly pid: number } {
    const { value } = this.#actor.getSnapshot();
    return { state: typeof value === 'string' ? value : JSON.stringify(value), pid: this.#connection.welcome.pid };
  }

  /** Calls `method` on the hosted object, restarting the daemon first if it was lost. */
  call(method: string, args: readonly unknown[], options?: CallOptions): Promise<unknown> {
    const connection = this.#connection;
    if (connection.isOpen) return connection.call(method, args, options);
    return this.#afterRecovery((recovered) => recovered.call(method, args, options));
  }

  /**
   * Subscribes `sink` to `topic` on the current connection, restarting the daemon first (as a
   * call does) if it was lost. Resolves with the subscription's id and the connection that
   * holds it: the subscription ends with that connection, it never moves to another.
   */
  async subscribe(topic: string, sink: EventSink, options?: CallOptions): Promise<{ readonly id: number; readonly connection: Connection }> {
    const open = this.#connection;
    const connection = open.isOpen ? open : await this.#afterRecovery(async (recovered) => recovered);
    return { id: await connection.subscribe(topic, sink, options), connection };
  }

  /**
   * Stops supervising; closes the connection once its in-flight calls have settled, or after
   * {@link CLOSE_GRACE_MS} whatever they are doing: those still pending then reject with
   * `ERR_PROXY_CLOSED` (they may still run on the daemon). Settles promptly, always.
   */
  async close(): Promise<void> {
    this.#actor.send({ type: 'proxy.disposed' });
    this.#detach();
    const connection = this.#connection;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, CLOSE_GRACE_MS);
    });
    try {
      await Promise.race([connection.settled(), grace]);
    } finally {
      clearTimeout(timer);
    }
    connection.close(
      new DaemonConnectionError(
        `The proxy of "${this.#name}" was closed while this call was in flight: its answer is lost, and it may still run (or have run) on the daemon`,
        { code: 'ERR_PROXY_CLOSED' },
      ),
    );
  }

  /** Runs `send` on the connection a restart yields, or throws what the statechart says. */
  async #afterRecovery<R>(send: (connection: Connection) => Promise<R>): Promise<R> {
    if (this.#actor.getSnapshot().status === 'done') throw new DaemonConnectionError('This proxy was disposed', { code: 'ERR_PROXY_CLOSED' });
    const callId = ++this.#callIds;
    this.#actor.send({ type: 'call.requested', now: Date.now(), callId });
    // Calls made during a restart wait for it in the order they were made, then go out in
    // that order: the issue order survives the restart.
    const snapshot = await waitFor(this.#actor, (s) => !s.matches('reconnecting'));
    const { context } = snapshot;
    switch (snapshot.value) {
      case 'connected': {
        const change = context.objectChange;
        if (change?.callId === callId) {
          throw new DaemonConnectionError(
            `The daemon "${this.#name}" (pid ${change.lost.pid}) was lost (${describe(change.error)}), and with it the object's state. ` +
              `This call was not sent. The next call goes to the new daemon (pid ${change.now.pid}), which starts from a new object`,
            { code: 'ERR_DAEMON_LOST', cause: change.error },
          );
        }
        return send(this.#connection);
      }
      case 'backingOff': {
        const { policy } = context;
        const limit = policy === false ? '' : `${policy.maxRestarts} restarts within ${policy.periodMs} ms`;
        throw new RestartLimitError(
          `The daemon "${this.#name}" was restarted too often (${limit}); this proxy fails fast until ${new Date(context.retryAt ?? 0).toISOString()}`,
          { retryAt: context.retryAt, cause: context.lastError },
        );
      }
      case 'disconnected': {
        // The restart itself failed. A daemon that could not be reached or kept dying is, to
        // this caller, a lost daemon (the call was not sent); a factory error or a mismatch
        // is reported as it is.
        const error = context.lastError;
        if (error instanceof ConnectionFailedError || error instanceof HandshakeError) {
          throw new DaemonConnectionError(`The daemon "${this.#name}" was lost and could not be restarted: ${error.message}`, {
            code: 'ERR_DAEMON_LOST',
            cause: error,
          });
        }
        throw error;
      }
      case 'failed':
        throw new DaemonConnectionError(`The daemon "${this.#name}" was lost and this proxy does not restart it (restart: false)`, {
          code: 'ERR_PROXY_CLOSED',
          cause: context.lastError,
        });
      default:
        throw new DaemonConnectionError('This proxy was disposed', { code: 'ERR_PROXY_CLOSED' });
    }
  }

  #attach(connection: Connection): void {
    this.#detach();
    this.#connection = connection;
    this.#detach = connection.onClose((error, rejected) => this.#actor.send({ type: 'connection.lost', error, rejected, daemon: instanceOf(connection) }));
  }

  #report(event: ClientEvent, restarts: number, retryAt: number | undefined): void {
    publish('client', event, () => ({ name: this.#name, pid: this.#connection.welcome.pid, restarts, retryAt }));
  }
}
