/**
 * The supervisor statechart on its own: `reconnect` is a fake whose every run the test
 * settles by hand, `attachConnection` and `report` are spies, and the backoff delay runs on
 * vitest's fake clock. The restart times come in with the events (`now`), as the runtime
 * sends them; no test reads the real clock.
 *
 * Every state and every transition of machines/supervisor.machine.ts is taken by at least
 * one test below.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, fromPromise, type Actor } from 'xstate';
import { supervisorMachine, type DaemonInstance, type Reconnected, type SupervisedProxy, type SupervisorContext } from '../../machines/supervisor.machine.js';
import type { RestartPolicy } from '../../src/options.js';
import type { Connection } from '../../src/client/connection.js';
import { deferred, settle } from '../support/machines.js';

/** The proxy the supervisor is given: the chart hands it to its effects (faked below) and never calls it itself. */
const PROXY: SupervisedProxy = Object.freeze({
  reconnect: () => Promise.reject(new Error('the chart called the proxy itself')),
  attach: () => {
    throw new Error('the chart called the proxy itself');
  },
  report: () => {
    throw new Error('the chart called the proxy itself');
  },
});

const POLICY: RestartPolicy = { maxRestarts: 3, periodMs: 10_000 };

type ReportEvent = 'daemon-lost' | 'restart' | 'restart-limit' | 'reconnected' | 'restart-failed';

/** One run of the fake `reconnect` actor, settled by the test. */
interface ReconnectRun {
  readonly signal: AbortSignal;
  /** What the reconnect effect was handed: the proxy the machine was given. */
  readonly input: SupervisedProxy;
  /** Reached a new daemon instance, unless `daemon` says which. */
  resolve(connection: object, daemon?: DaemonInstance): void;
  reject(error: unknown): void;
}

/** A `report` call and the context the action saw (what supervised.ts publishes). */
interface Report {
  readonly event: ReportEvent;
  readonly restarts: readonly number[];
  readonly retryAt: number | undefined;
  readonly lastError: unknown;
}

interface Harness {
  readonly actor: Actor<typeof supervisorMachine>;
  /** Every run of `reconnect`, in order. */
  readonly reconnects: ReconnectRun[];
  readonly attachConnection: ReturnType<typeof vi.fn>;
  /** Every `report`, in order. */
  readonly reports: Report[];
  /** Just the reported event names, in order. */
  events(): ReportEvent[];
  /** Every distinct state value the actor went through. */
  readonly path: unknown[];
  /** The connection to `daemon` (by default the first daemon) closed; `rejected` calls in flight were told. */
  lost(error: unknown, loss?: { daemon?: DaemonInstance; rejected?: number }): void;
  /** A call that found no open connection, at `now`; returns its call id. */
  call(now: number): number;
  dispose(): void;
  context(): SupervisorContext;
  value(): unknown;
  status(): string;
}

const actors: Actor<typeof supervisorMachine>[] = [];

/** The daemon a supervisor starts connected to. */
const FIRST: DaemonInstance = { pid: 100, instanceId: 'first' };

function startSupervisor(policy: RestartPolicy | false = POLICY): Harness {
  const reconnects: ReconnectRun[] = [];
  let callIds = 0;
  const attachConnection = vi.fn();
  const reports: Report[] = [];
  const machine = supervisorMachine.provide({
    actors: {
      reconnect: fromPromise<Reconnected, SupervisedProxy>(({ input, signal }) => {
        const reconnected = deferred<Reconnected>();
        const run = reconnects.length + 1;
        reconnects.push({
          signal,
          input,
          resolve: (connection, daemon = { pid: 1000 + run, instanceId: `restarted-${run}` }) => reconnected.resolve({ connection: connection as Connection, daemon }),
          reject: reconnected.reject,
        });
        return reconnected.promise;
      }),
    },
    actions: {
      attachConnection: (_, { connection }) => attachConnection(connection),
      report: ({ context }, { event }) => reports.push({ event, restarts: context.restarts, retryAt: context.retryAt, lastError: context.lastError }),
    },
  });
  const actor = createActor(machine, { input: { policy, proxy: PROXY } });
  actors.push(actor);
  const path: unknown[] = [];
  actor.subscribe({
    next: (snapshot) => {
      if (path.at(-1) !== snapshot.value) path.push(snapshot.value);
    },
    error: () => {},
  });
  actor.start();
  if (path[0] !== actor.getSnapshot().value) path.unshift(actor.getSnapshot().value);
  return {
    actor,
    reconnects,
    attachConnection,
    reports,
    events: () => reports.map((report) => report.event),
    path,
    lost: (error, loss = {}) => actor.send({ type: 'connection.lost', error, daemon: loss.daemon ?? FIRST, rejected: loss.rejected ?? 0 }),
    call: (now) => {
      const callId = ++callIds;
      actor.send({ type: 'call.requested', now, callId });
      return callId;
    },
    dispose: () => actor.send({ type: 'proxy.disposed' }),
    context: () => actor.getSnapshot().context,
    value: () => actor.getSnapshot().value,
    status: () => actor.getSnapshot().status,
  };
}

/** connected -> lost -> a call at `now` -> reconnecting -> reconnected. */
async function restartAt(sup: Harness, now: number): Promise<void> {
  expect(sup.value()).toBe('connected');
  sup.lost(new Error(`lost before ${now}`));
  sup.call(now);
  expect(sup.value()).toBe('reconnecting');
  sup.reconnects.at(-1)!.resolve({ connection: now });
  await settle();
  expect(sup.value()).toBe('connected');
}

/** Brings a fresh supervisor to backingOff: three restarts at 0, 1000, 2000, the fourth call at 3000. */
async function backingOff(): Promise<Harness> {
  const sup = startSupervisor(POLICY);
  await restartAt(sup, 0);
  await restartAt(sup, 1_000);
  await restartAt(sup, 2_000);
  sup.lost(new Error('lost a fourth time'));
  sup.call(3_000);
  expect(sup.value()).toBe('backingOff');
  return sup;
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  for (const actor of actors.splice(0)) actor.stop();
  vi.useRealTimers();
});

describe('supervisor machine: connected and disconnected', () => {
  it('starts connected, with an empty history, nothing reported, nothing running', () => {
    const sup = startSupervisor();
    expect(sup.status()).toBe('active');
    expect(sup.value()).toBe('connected');
    expect(sup.context()).toEqual({ proxy: PROXY, policy: POLICY, restarts: [], retryAt: undefined, lastError: undefined });
    expect(sup.reports).toEqual([]);
    expect(sup.reconnects).toHaveLength(0);
    expect(sup.attachConnection).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("connection.lost -> disconnected, the error recorded, 'daemon-lost' reported (covers connected->disconnected)", () => {
    const sup = startSupervisor();
    const error = new Error('socket closed');
    sup.lost(error);

    expect(sup.value()).toBe('disconnected');
    expect(sup.context().lastError).toBe(error);
    expect(sup.events()).toEqual(['daemon-lost']);
    // The report already sees the loss it reports.
    expect(sup.reports[0]!.lastError).toBe(error);
    // Nothing is restarted until a call needs the daemon.
    expect(sup.reconnects).toHaveLength(0);
    expect(sup.context().restarts).toEqual([]);
  });

  it("call.requested in disconnected -> reconnecting, 'restart' reported, the restart time recorded (covers disconnected->reconnecting)", () => {
    const sup = startSupervisor();
    sup.lost(new Error('gone'));
    sup.call(1_234);

    expect(sup.value()).toBe('reconnecting');
    expect(sup.events()).toEqual(['daemon-lost', 'restart']);
    expect(sup.context().restarts).toEqual([1_234]);
    expect(sup.context().retryAt).toBeUndefined();
    expect(sup.reports[1]!.restarts).toEqual([1_234]);
    expect(sup.reconnects).toHaveLength(1);
    expect(sup.reconnects[0]!.signal.aborted).toBe(false);
    expect(sup.reconnects[0]!.input).toBe(PROXY);
    expect(sup.context().proxy).toBe(PROXY);
  });
});

describe('supervisor machine: reconnecting', () => {
  it("reconnect resolving -> connected, the new connection attached, 'reconnected' reported (covers reconnecting->connected)", async () => {
    const sup = startSupervisor();
    sup.lost(new Error('gone'));
    sup.call(0);
    const fresh = { label: 'fresh connection' };
    sup.reconnects[0]!.resolve(fresh);
    await settle();

    expect(sup.value()).toBe('connected');
    expect(sup.attachConnection).toHaveBeenCalledTimes(1);
    expect(sup.attachConnection.mock.calls[0]![0]).toBe(fresh);
    expect(sup.events()).toEqual(['daemon-lost', 'restart', 'reconnected']);
    expect(sup.path).toEqual(['connected', 'disconnected', 'reconnecting', 'connected']);
    // The restart still counts towards the intensity.
    expect(sup.context().restarts).toEqual([0]);
  });

  it("reconnect rejecting -> disconnected, that error as lastError, 'restart-failed' reported (covers reconnecting->disconnected)", async () => {
    const sup = startSupervisor();
    sup.lost(new Error('gone'));
    sup.call(0);
    const failure = Object.assign(new Error('the factory threw'), { code: 'ERR_FACTORY' });
    sup.reconnects[0]!.reject(failure);
    await settle();

    expect(sup.value()).toBe('disconnected');
    expect(sup.context().lastError).toBe(failure);
    expect(sup.events()).toEqual(['daemon-lost', 'restart', 'restart-failed']);
    expect(sup.reports[2]!.lastError).toBe(failure);
    expect(sup.attachConnection).not.toHaveBeenCalled();

    // The next call tries again; the failed restart still counts.
    sup.call(500);
    expect(sup.value()).toBe('reconnecting');
    expect(sup.reconnects).toHaveLength(2);
    expect(sup.context().restarts).toEqual([0, 500]);
  });

  it('call.requested while reconnecting does nothing: no second restart, the running one kept', async () => {
    const sup = startSupervisor();
    sup.lost(new Error('gone'));
    sup.call(0);
    const before = sup.context();
    sup.call(10);
    sup.call(20);

    expect(sup.value()).toBe('reconnecting');
    expect(sup.reconnects).toHaveLength(1);
    expect(sup.reconnects[0]!.signal.aborted).toBe(false);
    expect(sup.context()).toEqual(before);
    expect(sup.events()).toEqual(['daemon-lost', 'restart']);

    // The one run still lands.
    const fresh = { label: 'fresh' };
    sup.reconnects[0]!.resolve(fresh);
    await settle();
    expect(sup.value()).toBe('connected');
    expect(sup.attachConnection).toHaveBeenCalledTimes(1);
    expect(sup.attachConnection.mock.calls[0]![0]).toBe(fresh);
  });
});

describe('supervisor machine: restart intensity', () => {
  it("allows maxRestarts restarts within periodMs; the next call -> backingOff until the oldest + period, 'restart-limit' reported (covers disconnected->backingOff)", async () => {
    const sup = startSupervisor({ maxRestarts: 3, periodMs: 10_000 });
    await restartAt(sup, 0);
    await restartAt(sup, 1_000);
    await restartAt(sup, 2_000);
    expect(sup.reconnects).toHaveLength(3);
    expect(sup.context().restarts).toEqual([0, 1_000, 2_000]);

    const error = new Error('lost a fourth time');
    sup.lost(error);
    sup.call(3_000);

    expect(sup.value()).toBe('backingOff');
    expect(sup.context().retryAt).toBe(10_000);
    expect(sup.context().restarts).toEqual([0, 1_000, 2_000]);
    expect(sup.context().lastError).toBe(error);
    expect(sup.reconnects).toHaveLength(3);
    expect(sup.events().at(-1)).toBe('restart-limit');
    expect(sup.events().filter((event) => event === 'restart')).toHaveLength(3);
    // What supervised.ts publishes with the report: retryAt is already set.
    expect(sup.reports.at(-1)!.retryAt).toBe(10_000);
  });

  it('failed restarts count too: three failures, then the fourth call backs off', async () => {
    const sup = startSupervisor({ maxRestarts: 3, periodMs: 10_000 });
    sup.lost(new Error('gone'));
    for (const now of [0, 1_000, 2_000]) {
      sup.call(now);
      expect(sup.value()).toBe('reconnecting');
      sup.reconnects.at(-1)!.reject(new Error(`restart at ${now} failed`));
      await settle();
      expect(sup.value()).toBe('disconnected');
    }
    sup.call(3_000);
    expect(sup.value()).toBe('backingOff');
    expect(sup.context().retryAt).toBe(10_000);
    expect(sup.reconnects).toHaveLength(3);
  });

  it('a restart that finds the lost daemon instance again is not counted: five dropped connections, no backoff', async () => {
    const sup = startSupervisor({ maxRestarts: 3, periodMs: 10_000 });
    for (const now of [0, 1_000, 2_000, 3_000, 4_000]) {
      sup.lost(new Error(`connection dropped at ${now}`), { daemon: FIRST, rejected: 1 });
      sup.call(now);
      expect(sup.value()).toBe('reconnecting');
      sup.reconnects.at(-1)!.resolve({ connection: now }, FIRST);
      await settle();
      expect(sup.value()).toBe('connected');
      expect(sup.context().restarts).toEqual([]);
    }
    // A new instance does count.
    sup.lost(new Error('daemon gone'), { daemon: FIRST, rejected: 1 });
    sup.call(5_000);
    sup.reconnects.at(-1)!.resolve({ connection: 'new' }, { pid: 7, instanceId: 'second' });
    await settle();
    expect(sup.context().restarts).toEqual([5_000]);
  });

  it('the backoff ends after exactly retryAt - now, not one ms before -> disconnected (covers backingOff->disconnected)', async () => {
    const sup = await backingOff();
    expect(vi.getTimerCount()).toBe(1);

    await vi.advanceTimersByTimeAsync(10_000 - 3_000 - 1);
    expect(sup.value()).toBe('backingOff');

    await vi.advanceTimersByTimeAsync(1);
    expect(sup.value()).toBe('disconnected');
    expect(vi.getTimerCount()).toBe(0);
    // Ending the backoff reports nothing and restarts nothing by itself.
    expect(sup.events().at(-1)).toBe('restart-limit');
    expect(sup.reconnects).toHaveLength(3);
  });

  it('after the backoff, a call at now=10001 restarts: restarts older than the period no longer count', async () => {
    const sup = await backingOff();
    await vi.advanceTimersByTimeAsync(7_000);
    expect(sup.value()).toBe('disconnected');

    sup.call(10_001);
    expect(sup.value()).toBe('reconnecting');
    expect(sup.reconnects).toHaveLength(4);
    expect(sup.events().at(-1)).toBe('restart');
    expect(sup.context().restarts).toEqual([1_000, 2_000, 10_001]);
    expect(sup.context().retryAt).toBeUndefined();
  });

  it('retryAt is exact: a call at now=retryAt restarts, one at retryAt - 1 backs off again until retryAt', async () => {
    const early = await backingOff();
    await vi.advanceTimersByTimeAsync(7_000);
    expect(early.value()).toBe('disconnected');
    early.call(9_999);
    expect(early.value()).toBe('backingOff');
    expect(early.context().retryAt).toBe(10_000);
    await settle();
    expect(early.value()).toBe('backingOff');
    await vi.advanceTimersByTimeAsync(1);
    expect(early.value()).toBe('disconnected');

    const onTime = await backingOff();
    await vi.advanceTimersByTimeAsync(7_000);
    onTime.call(10_000);
    expect(onTime.value()).toBe('reconnecting');
    expect(onTime.context().restarts).toEqual([1_000, 2_000, 10_000]);
  });

  it('restarts spread wider than the period never hit the limit', async () => {
    const sup = startSupervisor({ maxRestarts: 2, periodMs: 1_000 });
    for (const now of [0, 600, 1_200, 1_800, 2_400]) await restartAt(sup, now);
    expect(sup.reconnects).toHaveLength(5);
    expect(sup.context().restarts).toEqual([1_800, 2_400]);
    expect(sup.events()).not.toContain('restart-limit');
  });

  it('call.requested while backingOff does nothing: same retryAt, the timer not restarted', async () => {
    const sup = await backingOff();
    const before = sup.context();
    const reported = sup.reports.length;

    await vi.advanceTimersByTimeAsync(3_000);
    sup.call(6_000);
    sup.call(6_500);
    expect(sup.value()).toBe('backingOff');
    expect(sup.context()).toEqual(before);
    expect(sup.reports).toHaveLength(reported);
    expect(sup.reconnects).toHaveLength(3);
    expect(vi.getTimerCount()).toBe(1);

    // Still ends at the original deadline (7000 ms after entering), not 7000 ms after the calls.
    await vi.advanceTimersByTimeAsync(3_999);
    expect(sup.value()).toBe('backingOff');
    await vi.advanceTimersByTimeAsync(1);
    expect(sup.value()).toBe('disconnected');
  });

  it('maxRestarts 0 goes straight to backingOff for a whole period, never restarting', async () => {
    const sup = startSupervisor({ maxRestarts: 0, periodMs: 5_000 });
    sup.lost(new Error('gone'));
    sup.call(700);

    expect(sup.value()).toBe('backingOff');
    expect(sup.context().retryAt).toBe(5_700);
    expect(sup.context().restarts).toEqual([]);
    expect(sup.events()).toEqual(['daemon-lost', 'restart-limit']);
    expect(sup.reconnects).toHaveLength(0);

    await vi.advanceTimersByTimeAsync(4_999);
    expect(sup.value()).toBe('backingOff');
    await vi.advanceTimersByTimeAsync(1);
    expect(sup.value()).toBe('disconnected');

    sup.call(5_700);
    expect(sup.value()).toBe('backingOff');
    expect(sup.reconnects).toHaveLength(0);
  });
});

describe('supervisor machine: restart: false', () => {
  it('call.requested -> failed, and failed stays failed on later calls (covers disconnected->failed)', () => {
    const sup = startSupervisor(false);
    const error = new Error('gone');
    sup.lost(error);
    expect(sup.value()).toBe('disconnected');

    sup.call(0);
    expect(sup.value()).toBe('failed');
    expect(sup.status()).toBe('active');
    expect(sup.context().lastError).toBe(error);

    for (const now of [1, 2, 60_000]) {
      sup.call(now);
      expect(sup.value()).toBe('failed');
    }
    sup.lost(new Error('again'));
    expect(sup.value()).toBe('failed');
    expect(sup.path).toEqual(['connected', 'disconnected', 'failed']);
    expect(sup.context().lastError).toBe(error);
    expect(sup.context().restarts).toEqual([]);
    expect(sup.reconnects).toHaveLength(0);
    expect(sup.events()).toEqual(['daemon-lost']);
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('supervisor machine: proxy.disposed', () => {
  const SETUPS: [string, (sup: Harness) => Promise<void> | void][] = [
    ['connected', () => {}],
    ['disconnected', (sup) => sup.lost(new Error('gone'))],
    [
      'reconnecting',
      (sup) => {
        sup.lost(new Error('gone'));
        sup.call(0);
      },
    ],
    [
      'failed',
      (sup) => {
        sup.lost(new Error('gone'));
        sup.call(0);
      },
    ],
  ];

  it.each(SETUPS)('from %s -> disposed, final: the actor is done (covers the root proxy.disposed)', async (state, setUp) => {
    const sup = startSupervisor(state === 'failed' ? false : POLICY);
    await setUp(sup);
    expect(sup.value()).toBe(state);

    sup.dispose();
    expect(sup.value()).toBe('disposed');
    expect(sup.status()).toBe('done');
    expect(vi.getTimerCount()).toBe(0);
  });

  it('from backingOff -> disposed, and the backoff timer is cancelled', async () => {
    const sup = await backingOff();
    expect(vi.getTimerCount()).toBe(1);
    sup.dispose();

    expect(sup.value()).toBe('disposed');
    expect(sup.status()).toBe('done');
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(20_000);
    expect(sup.value()).toBe('disposed');
  });

  it('a reconnect that resolves after dispose is ignored: aborted, nothing attached, nothing reported', async () => {
    const sup = startSupervisor();
    sup.lost(new Error('gone'));
    sup.call(0);
    const run = sup.reconnects[0]!;
    const reported = sup.events();

    sup.dispose();
    expect(run.signal.aborted).toBe(true);

    run.resolve({ label: 'too late' });
    await settle();
    expect(sup.value()).toBe('disposed');
    expect(sup.status()).toBe('done');
    expect(sup.attachConnection).not.toHaveBeenCalled();
    expect(sup.events()).toEqual(reported);
  });

  it('a reconnect that rejects after dispose is ignored too', async () => {
    const sup = startSupervisor();
    const error = new Error('gone');
    sup.lost(error);
    sup.call(0);
    sup.dispose();

    sup.reconnects[0]!.reject(new Error('too late'));
    await settle();
    expect(sup.value()).toBe('disposed');
    expect(sup.context().lastError).toBe(error);
    expect(sup.events()).toEqual(['daemon-lost', 'restart']);
  });
});

describe('supervisor machine: never a silent change of object', () => {
  it('a loss nobody learned of, then a restart that reaches another daemon: objectChange names the call that asked for it', async () => {
    const sup = startSupervisor();
    const error = new Error('lost, nothing in flight');
    sup.lost(error);
    expect(sup.context().untold).toEqual({ daemon: FIRST, error });
    const callId = sup.call(1_000);
    expect(sup.context().restartedBy).toBe(callId);
    sup.reconnects[0]!.resolve({ connection: 'new' }, { pid: 200, instanceId: 'second' });
    await settle();
    expect(sup.value()).toBe('connected');
    expect(sup.context().objectChange).toEqual({ lost: FIRST, now: { pid: 200, instanceId: 'second' }, error, callId });
    expect(sup.context().untold).toBeUndefined();
  });

  it('calls in flight at the loss were told: the restart changes the object openly, no objectChange', async () => {
    const sup = startSupervisor();
    sup.lost(new Error('lost with two calls in flight'), { rejected: 2 });
    expect(sup.context().untold).toBeUndefined();
    sup.call(1_000);
    sup.reconnects[0]!.resolve({ connection: 'new' });
    await settle();
    expect(sup.context().objectChange).toBeUndefined();
  });

  it('a restart that reaches the same daemon instance (only the connection was lost) changes nothing', async () => {
    const sup = startSupervisor();
    sup.lost(new Error('connection dropped'));
    sup.call(1_000);
    sup.reconnects[0]!.resolve({ connection: 'again' }, FIRST);
    await settle();
    expect(sup.context().objectChange).toBeUndefined();
  });

  it('a failed restart tells its caller: the restart after it changes the object openly', async () => {
    const sup = startSupervisor();
    sup.lost(new Error('lost'));
    sup.call(1_000);
    sup.reconnects[0]!.reject(new Error('could not restart'));
    await settle();
    expect(sup.value()).toBe('disconnected');
    expect(sup.context().untold).toBeUndefined();
    sup.call(2_000);
    sup.reconnects[1]!.resolve({ connection: 'new' });
    await settle();
    expect(sup.context().objectChange).toBeUndefined();
  });

  it('the restart limit and restart: false tell their callers too', async () => {
    const limited = await backingOff();
    expect(limited.context().untold).toBeUndefined();
    const unsupervised = startSupervisor(false);
    unsupervised.lost(new Error('lost'));
    unsupervised.call(1_000);
    expect(unsupervised.value()).toBe('failed');
    expect(unsupervised.context().untold).toBeUndefined();
  });

  it('a restart that reaches the same daemon clears the loss; a later loss of that daemon is judged on its own', async () => {
    const sup = startSupervisor();
    const first = new Error('first loss');
    sup.lost(first);
    sup.call(1_000);
    sup.reconnects[0]!.resolve({ connection: 'same' }, FIRST);
    await settle();
    sup.lost(new Error('second loss'));
    expect(sup.context().untold).toEqual({ daemon: FIRST, error: expect.any(Error) });
    const callId = sup.call(2_000);
    sup.reconnects[1]!.resolve({ connection: 'new' }, { pid: 300, instanceId: 'third' });
    await settle();
    expect(sup.context().objectChange).toMatchObject({ lost: FIRST, callId });
  });
});
