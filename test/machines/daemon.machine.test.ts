/**
 * The daemon statechart on its own: every effect is a fake supplied with `provide()`, every
 * delay runs on vitest's fake clock. No sockets, no files, no processes.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, fromPromise, type Actor } from 'xstate';
import { daemonMachine, type DaemonContext, type DrainInput } from '../../machines/daemon.machine.js';
import { DaemonConnectionError, type WireError } from '../../src/errors.js';
import { localFaultError } from '../../src/runtime/local-fault.js';
import { sleep } from '../support/wait.js';
import { deferred, settle, type Deferred } from '../support/machines.js';

const IDLE_TTL = 1_000;
const BOOT_TIMEOUT = 5_000;
const DRAIN_TIMEOUT = 20_000;

type BootStep = 'loadObject' | 'bindServer' | 'publishMetadata';

/** How each fake boot step behaves: done at once, fail with a value, or never finish. */
type StepBehaviour = { readonly kind: 'ok' } | { readonly kind: 'fail'; readonly error: unknown } | { readonly kind: 'hang' };

function stepLogic(behaviour: StepBehaviour, started: () => void) {
  return fromPromise<void, unknown>(async () => {
    started();
    if (behaviour.kind === 'fail') throw behaviour.error;
    if (behaviour.kind === 'hang') await new Promise<never>(() => {});
  });
}

interface Harness {
  readonly actor: Actor<typeof daemonMachine>;
  readonly started: Record<BootStep, ReturnType<typeof vi.fn>>;
  readonly reportReady: ReturnType<typeof vi.fn>;
  /** Called with the context as it was when `reportFailure` ran. */
  readonly reportFailure: ReturnType<typeof vi.fn<(context: DaemonContext) => void>>;
  readonly escalateDrain: ReturnType<typeof vi.fn>;
  /** The record effects, in the order they ran: 'markDraining', 'reportAbandoned', 'unpublish'. */
  readonly records: string[];
  /** Every input the drain actor was started with, in order. */
  readonly drainInputs: DrainInput[];
  /** Settles the current drain. */
  readonly drain: Deferred;
  context(): DaemonContext;
  value(): unknown;
  status(): string;
}

function startDaemon(steps: Partial<Record<BootStep, StepBehaviour>> = {}): Harness {
  const started = { loadObject: vi.fn(), bindServer: vi.fn(), publishMetadata: vi.fn() };
  const reportReady = vi.fn();
  const reportFailure = vi.fn<(context: DaemonContext) => void>();
  const escalateDrain = vi.fn();
  const records: string[] = [];
  const drainInputs: DrainInput[] = [];
  const drain = deferred();
  const ok: StepBehaviour = { kind: 'ok' };
  const machine = daemonMachine.provide({
    actors: {
      loadObject: stepLogic(steps.loadObject ?? ok, started.loadObject),
      bindServer: stepLogic(steps.bindServer ?? ok, started.bindServer),
      publishMetadata: stepLogic(steps.publishMetadata ?? ok, started.publishMetadata),
      drain: fromPromise<void, DrainInput>(({ input }) => {
        drainInputs.push(input);
        return drain.promise;
      }),
    },
    actions: {
      reportReady: () => reportReady(),
      reportFailure: ({ context }) => reportFailure(context),
      escalateDrain: () => escalateDrain(),
      markDraining: () => records.push('markDraining'),
      reportAbandoned: () => records.push('reportAbandoned'),
      unpublish: () => records.push('unpublish'),
    },
    delays: { idleTtl: IDLE_TTL, bootTimeout: BOOT_TIMEOUT, drainTimeout: DRAIN_TIMEOUT },
  });
  const actor = createActor(machine);
  actors.push(actor);
  actor.start();
  return {
    actor,
    started,
    reportReady,
    reportFailure,
    escalateDrain,
    records,
    drainInputs,
    drain,
    context: () => actor.getSnapshot().context,
    value: () => actor.getSnapshot().value,
    status: () => actor.getSnapshot().status,
  };
}

/** Boots with instant fake steps and returns once the daemon is serving. */
async function serving(): Promise<Harness> {
  const daemon = startDaemon();
  await settle();
  expect(daemon.value()).toEqual({ serving: 'idle' });
  return daemon;
}

const actors: Actor<typeof daemonMachine>[] = [];

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  for (const actor of actors.splice(0)) actor.stop();
  vi.useRealTimers();
});

describe('daemon machine: boot', () => {
  it('goes booting -> binding -> publishing -> serving.idle and reports ready exactly once', async () => {
    const gates = { loadObject: deferred(), bindServer: deferred(), publishMetadata: deferred() };
    const reportReady = vi.fn();
    const machine = daemonMachine.provide({
      actors: {
        loadObject: fromPromise(() => gates.loadObject.promise),
        bindServer: fromPromise(() => gates.bindServer.promise),
        publishMetadata: fromPromise(() => gates.publishMetadata.promise),
      },
      actions: { reportReady: () => reportReady() },
      delays: { idleTtl: IDLE_TTL, bootTimeout: BOOT_TIMEOUT },
    });
    const actor = createActor(machine);
    actors.push(actor);
    const seen: unknown[] = [];
    actor.subscribe((snapshot) => seen.push(snapshot.value));
    actor.start();

    expect(actor.getSnapshot().value).toEqual({ starting: 'booting' });
    gates.loadObject.resolve();
    await settle();
    expect(actor.getSnapshot().value).toEqual({ starting: 'binding' });
    gates.bindServer.resolve();
    await settle();
    expect(actor.getSnapshot().value).toEqual({ starting: 'publishing' });
    expect(reportReady).not.toHaveBeenCalled();
    gates.publishMetadata.resolve();
    await settle();
    expect(actor.getSnapshot().value).toEqual({ serving: 'idle' });
    expect(reportReady).toHaveBeenCalledTimes(1);
    expect(seen).toEqual([{ starting: 'booting' }, { starting: 'binding' }, { starting: 'publishing' }, { serving: 'idle' }]);
    expect(actor.getSnapshot().context).toEqual({ active: 0, force: false, stopReason: undefined, error: undefined });

    // Moving between idle and busy stays inside `serving`: ready is never reported again.
    actor.send({ type: 'connection.opened' });
    actor.send({ type: 'connection.opened' });
    actor.send({ type: 'connection.closed' });
    actor.send({ type: 'connection.closed' });
    actor.send({ type: 'connection.opened' });
    expect(actor.getSnapshot().value).toEqual({ serving: 'busy' });
    expect(reportReady).toHaveBeenCalledTimes(1);
  });

  it('gives the whole start one bootTimeout budget, however it is split between the steps', async () => {
    const slow = () => fromPromise<void, unknown>(() => sleep(BOOT_TIMEOUT / 2 - 1));
    const machine = daemonMachine.provide({
      actors: { loadObject: slow(), bindServer: slow(), publishMetadata: slow() },
      delays: { idleTtl: IDLE_TTL, bootTimeout: BOOT_TIMEOUT },
    });
    const actor = createActor(machine);
    actors.push(actor);
    actor.start();
    await vi.advanceTimersByTimeAsync(BOOT_TIMEOUT / 2 - 1);
    expect(actor.getSnapshot().value).toEqual({ starting: 'binding' });
    await vi.advanceTimersByTimeAsync(BOOT_TIMEOUT / 2 - 1);
    expect(actor.getSnapshot().value).toEqual({ starting: 'publishing' });
    await vi.advanceTimersByTimeAsync(2);
    expect(actor.getSnapshot().value).toBe('failed');
    expect(actor.getSnapshot().context.error).toMatchObject({ code: 'ERR_LOOPBACK_SINGLETON', message: expect.stringContaining('publishing') });
  });

  const failures: ReadonlyArray<{ step: BootStep; state: string; code: string; later: BootStep[] }> = [
    { step: 'loadObject', state: 'booting', code: 'ERR_FACTORY', later: ['bindServer', 'publishMetadata'] },
    { step: 'bindServer', state: 'binding', code: 'ERR_CONNECTION_FAILED', later: ['publishMetadata'] },
    { step: 'publishMetadata', state: 'publishing', code: 'ERR_LOOPBACK_SINGLETON', later: [] },
  ];

  it.each(failures)('$step failing in $state -> failed with $code, the original message, and reportFailure', async ({ step, code, later }) => {
    const original = Object.assign(new TypeError(`${step} broke: boom`), { code: 'EBOOM' });
    const daemon = startDaemon({ [step]: { kind: 'fail', error: original } });
    await settle();

    expect(daemon.value()).toBe('failed');
    expect(daemon.status()).toBe('done');
    expect(daemon.context().error).toEqual({
      code,
      name: 'TypeError',
      message: `${step} broke: boom`,
      stack: original.stack,
      remoteCode: 'EBOOM',
    });
    expect(daemon.started[step]).toHaveBeenCalledTimes(1);
    for (const next of later) expect(daemon.started[next]).not.toHaveBeenCalled();
    expect(daemon.reportReady).not.toHaveBeenCalled();
    expect(daemon.reportFailure).toHaveBeenCalledTimes(1);
    expect(daemon.reportFailure.mock.calls[0]![0].error).toMatchObject({ code, message: `${step} broke: boom` });
    expect(daemon.drainInputs).toEqual([]);
  });

  it.each(failures)('$step rejecting with a non-Error value still fails with $code and its text', async ({ step, code }) => {
    const daemon = startDaemon({ [step]: { kind: 'fail', error: 'plain string reason' } });
    await settle();
    expect(daemon.value()).toBe('failed');
    expect(daemon.context().error).toMatchObject({ code, message: 'plain string reason' });
    expect(daemon.reportFailure).toHaveBeenCalledTimes(1);
  });

  it.each(failures)('$step failing with a local fault keeps its code; with another error of this package, $code', async ({ step, code }) => {
    const fault = localFaultError('read the token file', Object.assign(new Error('EMFILE: too many open files'), { code: 'EMFILE' }));
    const faulty = startDaemon({ [step]: { kind: 'fail', error: fault } });
    await settle();
    expect(faulty.context().error).toEqual({ code: 'ERR_LOOPBACK_SINGLETON', name: 'LoopbackSingletonError', message: fault.message, stack: fault.stack });

    // Another error of this package (a factory's proxy that lost its daemon): the step failed, and says so.
    const lost = new DaemonConnectionError('lost the other daemon', { code: 'ERR_DAEMON_LOST' });
    const failed = startDaemon({ [step]: { kind: 'fail', error: lost } });
    await settle();
    expect(failed.context().error).toEqual({ code, name: 'DaemonConnectionError', message: 'lost the other daemon', stack: lost.stack, remoteCode: 'ERR_DAEMON_LOST' });
  });

  it.each(failures)('$step never finishing hits bootTimeout -> failed with $code', async ({ step, state, code, later }) => {
    const daemon = startDaemon({ [step]: { kind: 'hang' } });
    await settle();
    expect(daemon.value()).toEqual({ starting: state });

    await vi.advanceTimersByTimeAsync(BOOT_TIMEOUT - 1);
    expect(daemon.value()).toEqual({ starting: state });
    expect(daemon.reportFailure).not.toHaveBeenCalled();

    await vi.advanceTimersByTimeAsync(1);
    expect(daemon.value()).toBe('failed');
    expect(daemon.status()).toBe('done');
    expect(daemon.context().error).toMatchObject({ code });
    expect(daemon.context().error?.message).toMatch(/boot timeout/);
    expect(daemon.reportFailure).toHaveBeenCalledTimes(1);
    expect(daemon.reportFailure.mock.calls[0]![0].error?.code).toBe(code);
    expect(daemon.reportReady).not.toHaveBeenCalled();
    for (const next of later) expect(daemon.started[next]).not.toHaveBeenCalled();
  });
});

describe('daemon machine: serving', () => {
  it('counts idleTtl down from the start of serving, then drains with reason idle', async () => {
    const daemon = await serving();

    await vi.advanceTimersByTimeAsync(IDLE_TTL - 1);
    expect(daemon.value()).toEqual({ serving: 'idle' });
    expect(daemon.drainInputs).toEqual([]);

    await vi.advanceTimersByTimeAsync(1);
    expect(daemon.value()).toBe('draining');
    expect(daemon.context().stopReason).toBe('idle');
    expect(daemon.context().force).toBe(false);
    expect(daemon.drainInputs).toEqual([{ force: false }]);
  });

  it('connection.opened moves to busy and cancels the idle countdown', async () => {
    const daemon = await serving();
    await vi.advanceTimersByTimeAsync(IDLE_TTL - 1);

    daemon.actor.send({ type: 'connection.opened' });
    expect(daemon.value()).toEqual({ serving: 'busy' });
    expect(daemon.context().active).toBe(1);

    await vi.advanceTimersByTimeAsync(IDLE_TTL * 10);
    expect(daemon.value()).toEqual({ serving: 'busy' });
    expect(daemon.drainInputs).toEqual([]);
  });

  it('closing the last connection returns to idle and restarts a full idleTtl countdown', async () => {
    const daemon = await serving();
    await vi.advanceTimersByTimeAsync(IDLE_TTL / 2);
    daemon.actor.send({ type: 'connection.opened' });
    // Past the moment the first countdown would have fired.
    await vi.advanceTimersByTimeAsync(IDLE_TTL);
    daemon.actor.send({ type: 'connection.closed' });
    expect(daemon.value()).toEqual({ serving: 'idle' });
    expect(daemon.context().active).toBe(0);

    await vi.advanceTimersByTimeAsync(IDLE_TTL - 1);
    expect(daemon.value()).toEqual({ serving: 'idle' });
    expect(daemon.drainInputs).toEqual([]);

    await vi.advanceTimersByTimeAsync(1);
    expect(daemon.value()).toBe('draining');
    expect(daemon.drainInputs).toEqual([{ force: false }]);
  });

  it('restarts the countdown from scratch after each busy period', async () => {
    const daemon = await serving();
    for (let round = 0; round < 3; round++) {
      await vi.advanceTimersByTimeAsync(IDLE_TTL - 1);
      daemon.actor.send({ type: 'connection.opened' });
      daemon.actor.send({ type: 'connection.closed' });
      expect(daemon.value()).toEqual({ serving: 'idle' });
    }
    await vi.advanceTimersByTimeAsync(IDLE_TTL - 1);
    expect(daemon.value()).toEqual({ serving: 'idle' });
    await vi.advanceTimersByTimeAsync(1);
    expect(daemon.value()).toBe('draining');
  });

  it('counts several connections, stays busy until the last closes, and never goes below zero', async () => {
    const daemon = await serving();
    const { actor } = daemon;

    actor.send({ type: 'connection.opened' });
    actor.send({ type: 'connection.opened' });
    actor.send({ type: 'connection.opened' });
    expect(daemon.context().active).toBe(3);
    expect(daemon.value()).toEqual({ serving: 'busy' });

    actor.send({ type: 'connection.closed' });
    expect(daemon.context().active).toBe(2);
    expect(daemon.value()).toEqual({ serving: 'busy' });
    actor.send({ type: 'connection.closed' });
    expect(daemon.context().active).toBe(1);
    expect(daemon.value()).toEqual({ serving: 'busy' });
    actor.send({ type: 'connection.closed' });
    expect(daemon.context().active).toBe(0);
    expect(daemon.value()).toEqual({ serving: 'idle' });

    // Spurious closes (never counted as opened) must not push the count below zero...
    actor.send({ type: 'connection.closed' });
    actor.send({ type: 'connection.closed' });
    expect(daemon.context().active).toBe(0);
    expect(daemon.value()).toEqual({ serving: 'idle' });

    // ...so the next open is counted as the only one, and its close brings us back to idle.
    actor.send({ type: 'connection.opened' });
    expect(daemon.context().active).toBe(1);
    expect(daemon.value()).toEqual({ serving: 'busy' });
    actor.send({ type: 'connection.closed' });
    expect(daemon.context().active).toBe(0);
    expect(daemon.value()).toEqual({ serving: 'idle' });
  });

  it.each([
    { force: false, from: 'idle' as const },
    { force: true, from: 'idle' as const },
    { force: false, from: 'busy' as const },
    { force: true, from: 'busy' as const },
  ])('shutdown.requested {force: $force} from serving.$from -> draining with that drain input', async ({ force, from }) => {
    const daemon = await serving();
    if (from === 'busy') daemon.actor.send({ type: 'connection.opened' });
    expect(daemon.value()).toEqual({ serving: from });

    daemon.actor.send({ type: 'shutdown.requested', force });
    expect(daemon.value()).toBe('draining');
    expect(daemon.context()).toMatchObject({ force, stopReason: 'shutdown' });
    await settle();
    expect(daemon.drainInputs).toEqual([{ force }]);
    expect(daemon.escalateDrain).not.toHaveBeenCalled();
  });
});

describe('daemon machine: draining', () => {
  async function draining(how: 'idle' | 'shutdown'): Promise<Harness> {
    const daemon = await serving();
    if (how === 'idle') await vi.advanceTimersByTimeAsync(IDLE_TTL);
    else daemon.actor.send({ type: 'shutdown.requested', force: false });
    await settle();
    expect(daemon.value()).toBe('draining');
    expect(daemon.drainInputs).toHaveLength(1);
    return daemon;
  }

  it.each(['idle', 'shutdown'] as const)('a forced shutdown while draining (after %s) escalates the drain once', async (how) => {
    const daemon = await draining(how);

    daemon.actor.send({ type: 'shutdown.requested', force: true });
    expect(daemon.escalateDrain).toHaveBeenCalledTimes(1);
    expect(daemon.value()).toBe('draining');
    expect(daemon.context().force).toBe(true);
    await settle();
    // The running drain is escalated, not restarted.
    expect(daemon.drainInputs).toHaveLength(1);
  });

  it('a graceful shutdown while draining does nothing', async () => {
    const daemon = await draining('idle');
    const before = daemon.context();

    daemon.actor.send({ type: 'shutdown.requested', force: false });
    await settle();
    expect(daemon.escalateDrain).not.toHaveBeenCalled();
    expect(daemon.value()).toBe('draining');
    expect(daemon.context()).toEqual(before);
    expect(daemon.drainInputs).toHaveLength(1);
  });

  it('does not start an idle countdown or report ready while draining', async () => {
    const daemon = await draining('shutdown');
    daemon.actor.send({ type: 'connection.opened' });
    daemon.actor.send({ type: 'connection.closed' });
    await vi.advanceTimersByTimeAsync(IDLE_TTL * 5);
    expect(daemon.value()).toBe('draining');
    expect(daemon.drainInputs).toHaveLength(1);
    expect(daemon.reportReady).toHaveBeenCalledTimes(1);
  });

  it('drain done -> stopped (final, status done)', async () => {
    const daemon = await draining('shutdown');
    daemon.drain.resolve();
    await settle();
    expect(daemon.value()).toBe('stopped');
    expect(daemon.status()).toBe('done');
    expect(daemon.context().error).toBeUndefined();
    expect(daemon.reportFailure).not.toHaveBeenCalled();
    // The record is marked draining on entry and removed only on stopping; nothing was abandoned.
    expect(daemon.records).toEqual(['markDraining', 'unpublish']);
  });

  it('a drain that outlasts drainTimeout -> stopped, reporting the abandoned calls, then unpublishing', async () => {
    const daemon = await draining('shutdown');
    await vi.advanceTimersByTimeAsync(DRAIN_TIMEOUT - 1);
    expect(daemon.value()).toBe('draining');
    expect(daemon.records).toEqual(['markDraining']);
    await vi.advanceTimersByTimeAsync(1);
    expect(daemon.value()).toBe('stopped');
    expect(daemon.status()).toBe('done');
    expect(daemon.records).toEqual(['markDraining', 'reportAbandoned', 'unpublish']);
    // The drain that never finished settles late: ignored.
    daemon.drain.resolve();
    await settle();
    expect(daemon.records).toEqual(['markDraining', 'reportAbandoned', 'unpublish']);
  });

  it('the drain deadline counts from the drain start: an escalation does not restart it', async () => {
    const daemon = await draining('shutdown');
    await vi.advanceTimersByTimeAsync(DRAIN_TIMEOUT / 2);
    daemon.actor.send({ type: 'shutdown.requested', force: true });
    await vi.advanceTimersByTimeAsync(DRAIN_TIMEOUT / 2);
    expect(daemon.value()).toBe('stopped');
  });

  it('drain error -> failed with the drain error recorded, and reportFailure', async () => {
    const daemon = await draining('shutdown');
    daemon.drain.reject(new Error('could not close the server'));
    await settle();
    expect(daemon.value()).toBe('failed');
    expect(daemon.status()).toBe('done');
    expect(daemon.context().error).toMatchObject({ code: 'ERR_LOOPBACK_SINGLETON', name: 'Error', message: 'could not close the server' });
    expect(daemon.reportFailure).toHaveBeenCalledTimes(1);
    expect(daemon.reportFailure.mock.calls[0]![0].error?.message).toBe('could not close the server');
  });
});

describe('daemon machine: daemon.crashed', () => {
  const crash: WireError = { code: 'ERR_LOOPBACK_SINGLETON', name: 'RangeError', message: 'uncaught: out of range', stack: 'RangeError: uncaught' };

  function expectCrashed(daemon: Harness): void {
    expect(daemon.value()).toBe('failed');
    expect(daemon.status()).toBe('done');
    expect(daemon.context().error).toEqual(crash);
    expect(daemon.context().stopReason).toBe('fatal');
    expect(daemon.reportFailure).toHaveBeenCalledTimes(1);
    expect(daemon.reportFailure.mock.calls[0]![0]).toMatchObject({ error: crash, stopReason: 'fatal' });
  }

  it('from booting -> failed, and a late loadObject result is ignored', async () => {
    const gate = deferred();
    const reportFailure = vi.fn<(context: DaemonContext) => void>();
    const bindStarted = vi.fn();
    const machine = daemonMachine.provide({
      actors: {
        loadObject: fromPromise(() => gate.promise),
        bindServer: fromPromise(async () => bindStarted()),
      },
      actions: { reportFailure: ({ context }) => reportFailure(context) },
      delays: { idleTtl: IDLE_TTL, bootTimeout: BOOT_TIMEOUT },
    });
    const actor = createActor(machine);
    actors.push(actor);
    actor.start();
    expect(actor.getSnapshot().value).toEqual({ starting: 'booting' });

    actor.send({ type: 'daemon.crashed', error: crash });
    expect(actor.getSnapshot().value).toBe('failed');
    expect(actor.getSnapshot().context).toMatchObject({ error: crash, stopReason: 'fatal' });
    expect(reportFailure).toHaveBeenCalledTimes(1);

    gate.resolve();
    await vi.advanceTimersByTimeAsync(BOOT_TIMEOUT * 2);
    expect(actor.getSnapshot().value).toBe('failed');
    expect(actor.getSnapshot().context.error).toEqual(crash);
    expect(bindStarted).not.toHaveBeenCalled();
    expect(reportFailure).toHaveBeenCalledTimes(1);
  });

  it.each(['idle', 'busy'] as const)('from serving.%s -> failed with that error and stopReason fatal', async (sub) => {
    const daemon = await serving();
    if (sub === 'busy') daemon.actor.send({ type: 'connection.opened' });
    expect(daemon.value()).toEqual({ serving: sub });

    daemon.actor.send({ type: 'daemon.crashed', error: crash });
    expectCrashed(daemon);
    // No idle countdown survives into the final state.
    await vi.advanceTimersByTimeAsync(IDLE_TTL * 5);
    expect(daemon.drainInputs).toEqual([]);
    expect(daemon.value()).toBe('failed');
  });

  it('from binding, publishing and draining too', async () => {
    for (const step of ['bindServer', 'publishMetadata'] as const) {
      const daemon = startDaemon({ [step]: { kind: 'hang' } });
      await settle();
      daemon.actor.send({ type: 'daemon.crashed', error: crash });
      expectCrashed(daemon);
    }
    const daemon = await serving();
    daemon.actor.send({ type: 'shutdown.requested', force: false });
    daemon.actor.send({ type: 'daemon.crashed', error: crash });
    expect(daemon.context().error).toEqual(crash);
    expect(daemon.value()).toBe('failed');
    expect(daemon.context().stopReason).toBe('fatal');
    expect(daemon.reportFailure).toHaveBeenCalledTimes(1);
  });
});
