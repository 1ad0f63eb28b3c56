/**
 * The daemon statechart on its own: every effect is a fake supplied with `provide()`, every
 * delay runs on vitest's fake clock. No sockets, no files, no processes.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, fromPromise, type Actor } from 'xstate';
import { CLOSE_GRACE_MS, DISPOSE_TIMEOUT_MS, daemonMachine, FORCE_GRACE_MS, type DaemonContext } from '../../machines/daemon.machine.js';
import { DaemonConnectionError, LoopbackSingletonError, RegistryError, type WireError } from '../../src/errors.js';
import { localFaultError } from '../../src/runtime/local-fault.js';
import { sleep } from '../support/wait.js';
import { deferred, settle, type Deferred } from '../support/machines.js';

const IDLE_TTL = 1_000;
const BOOT_TIMEOUT = 5_000;
const DRAIN_TIMEOUT = 20_000;

type BootStep = 'loadObject' | 'bindServer' | 'publishMetadata';
/** The drain steps that are effects (invoked actors), in the order a drain runs them. */
type DrainStep = 'answerCalls' | 'finishRunning' | 'dispose' | 'closeConnections';
const DRAIN_STEPS: readonly DrainStep[] = ['answerCalls', 'finishRunning', 'dispose', 'closeConnections'];

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
  readonly started: Record<BootStep | DrainStep, ReturnType<typeof vi.fn>>;
  readonly reportReady: ReturnType<typeof vi.fn>;
  /** Called with the context as it was when `reportFailure` ran. */
  readonly reportFailure: ReturnType<typeof vi.fn<(context: DaemonContext) => void>>;
  /**
   * The drain's actions, in the order they ran: 'markDraining', 'closeIntake(graceful|forced)',
   * 'forceMailbox', 'reportDisposed(<outcome>)', 'reportDisposeOverrun', 'reportAbandoned', 'unpublish'.
   */
  readonly records: string[];
  /** Settle the drain steps' effects (each started at most once per harness). */
  readonly steps: { readonly [K in Exclude<DrainStep, 'dispose'>]: Deferred } & { readonly dispose: Deferred<string | undefined> };
  /** Every state value the daemon went through, in order. */
  readonly seen: unknown[];
  context(): DaemonContext;
  value(): unknown;
  status(): string;
}

function startDaemon(steps: Partial<Record<BootStep, StepBehaviour>> = {}): Harness {
  const started = {
    loadObject: vi.fn(),
    bindServer: vi.fn(),
    publishMetadata: vi.fn(),
    answerCalls: vi.fn(),
    finishRunning: vi.fn(),
    dispose: vi.fn(),
    closeConnections: vi.fn(),
  };
  const reportReady = vi.fn();
  const reportFailure = vi.fn<(context: DaemonContext) => void>();
  const records: string[] = [];
  const drain = { answerCalls: deferred(), finishRunning: deferred(), dispose: deferred<string | undefined>(), closeConnections: deferred() };
  const effect = (step: Exclude<DrainStep, 'dispose'>) =>
    fromPromise<void, unknown>(() => {
      started[step]();
      return drain[step].promise;
    });
  const ok: StepBehaviour = { kind: 'ok' };
  const machine = daemonMachine.provide({
    actors: {
      loadObject: stepLogic(steps.loadObject ?? ok, started.loadObject),
      bindServer: stepLogic(steps.bindServer ?? ok, started.bindServer),
      publishMetadata: stepLogic(steps.publishMetadata ?? ok, started.publishMetadata),
      answerCalls: effect('answerCalls'),
      finishRunning: effect('finishRunning'),
      dispose: fromPromise<string | undefined, unknown>(() => {
        started.dispose();
        return drain.dispose.promise;
      }),
      closeConnections: effect('closeConnections'),
    },
    actions: {
      reportReady: () => reportReady(),
      reportFailure: ({ context }) => reportFailure(context),
      markDraining: () => records.push('markDraining'),
      closeIntake: (_, { force }) => records.push(`closeIntake(${force ? 'forced' : 'graceful'})`),
      forceMailbox: () => records.push('forceMailbox'),
      reportDisposed: (_, { outcome }) => records.push(`reportDisposed(${outcome})`),
      reportDisposeOverrun: () => records.push('reportDisposeOverrun'),
      reportAbandoned: () => records.push('reportAbandoned'),
      unpublish: () => records.push('unpublish'),
    },
    delays: { idleTtl: IDLE_TTL, bootTimeout: BOOT_TIMEOUT, drainTimeout: DRAIN_TIMEOUT },
  });
  const actor = createActor(machine);
  actors.push(actor);
  const seen: unknown[] = [];
  actor.subscribe((snapshot) => {
    if (JSON.stringify(snapshot.value) !== JSON.stringify(seen.at(-1))) seen.push(snapshot.value);
  });
  actor.start();
  return {
    actor,
    started,
    reportReady,
    reportFailure,
    records,
    steps: drain,
    seen,
    context: () => actor.getSnapshot().context,
    value: () => actor.getSnapshot().value,
    status: () => actor.getSnapshot().status,
  };
}

/** The records of the drain's start: none until the daemon drains. */
function intake(daemon: Harness): string[] {
  return daemon.records.filter((record) => record === 'markDraining' || record.startsWith('closeIntake'));
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

  const failures: ReadonlyArray<{ step: BootStep; state: string; code: string; later: BootStep[]; doing: string }> = [
    { step: 'loadObject', state: 'booting', code: 'ERR_FACTORY', later: ['bindServer', 'publishMetadata'], doing: 'creating the object (the factory is hanging)' },
    { step: 'bindServer', state: 'binding', code: 'ERR_CONNECTION_FAILED', later: ['publishMetadata'], doing: 'binding its socket' },
    { step: 'publishMetadata', state: 'publishing', code: 'ERR_LOOPBACK_SINGLETON', later: [], doing: 'publishing its metadata' },
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
    expect(intake(daemon)).toEqual([]);
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

  it('only a LoopbackSingletonError with the generic code is a local fault: the name alone or the code alone is not', async () => {
    // Of this package, another code (a factory's call that timed out): recorded as the step's failure.
    const timedOut = new LoopbackSingletonError('a call timed out', { code: 'ERR_CALL_TIMEOUT' });
    const byName = startDaemon({ loadObject: { kind: 'fail', error: timedOut } });
    await settle();
    expect(byName.context().error).toMatchObject({ code: 'ERR_FACTORY', name: 'LoopbackSingletonError', remoteCode: 'ERR_CALL_TIMEOUT' });
    // The generic code on an error of the hosted code's own: not ours to keep either.
    const lookalike = Object.assign(new TypeError('looks like ours'), { code: 'ERR_LOOPBACK_SINGLETON' });
    const byCode = startDaemon({ loadObject: { kind: 'fail', error: lookalike } });
    await settle();
    expect(byCode.context().error).toMatchObject({ code: 'ERR_FACTORY', name: 'TypeError', remoteCode: 'ERR_LOOPBACK_SINGLETON' });
  });

  it('publishing failing because etcd did not answer keeps ERR_REGISTRY_UNAVAILABLE: the spawner is told etcd is the cause', async () => {
    const unavailable = new RegistryError('etcd at etcd://127.0.0.1:1 did not answer publishing this daemon', { registry: 'etcd://127.0.0.1:1' });
    const daemon = startDaemon({ publishMetadata: { kind: 'fail', error: unavailable } });
    await settle();
    expect(daemon.value()).toBe('failed');
    expect(daemon.context().error).toEqual({ code: 'ERR_REGISTRY_UNAVAILABLE', name: 'RegistryError', message: unavailable.message, stack: unavailable.stack });
    // The code alone, on an error of another class, is not kept.
    const lookalike = Object.assign(new Error('not ours'), { code: 'ERR_REGISTRY_UNAVAILABLE' });
    const other = startDaemon({ publishMetadata: { kind: 'fail', error: lookalike } });
    await settle();
    expect(other.context().error).toMatchObject({ code: 'ERR_LOOPBACK_SINGLETON', remoteCode: 'ERR_REGISTRY_UNAVAILABLE' });
    // Nor the name alone, with another code (another library's RegistryError).
    const namesake = Object.assign(new Error('connect refused'), { name: 'RegistryError', code: 'ECONNREFUSED' });
    const theirs = startDaemon({ publishMetadata: { kind: 'fail', error: namesake } });
    await settle();
    expect(theirs.context().error).toMatchObject({ code: 'ERR_LOOPBACK_SINGLETON', name: 'RegistryError', remoteCode: 'ECONNREFUSED' });
  });

  it.each(failures)('$step never finishing hits bootTimeout -> failed with $code, naming the step', async ({ step, state, code, later, doing }) => {
    const daemon = startDaemon({ [step]: { kind: 'hang' } });
    await settle();
    expect(daemon.value()).toEqual({ starting: state });

    await vi.advanceTimersByTimeAsync(BOOT_TIMEOUT - 1);
    expect(daemon.value()).toEqual({ starting: state });
    expect(daemon.reportFailure).not.toHaveBeenCalled();

    await vi.advanceTimersByTimeAsync(1);
    expect(daemon.value()).toBe('failed');
    expect(daemon.status()).toBe('done');
    expect(daemon.context().error).toEqual({ code, name: 'Error', message: `The daemon did not finish ${doing} within its boot timeout` });
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
    expect(intake(daemon)).toEqual([]);

    await vi.advanceTimersByTimeAsync(1);
    expect(daemon.value()).toEqual({ draining: 'answering' });
    expect(daemon.context().stopReason).toBe('idle');
    expect(daemon.context().force).toBe(false);
    expect(intake(daemon)).toEqual(['markDraining', 'closeIntake(graceful)']);
  });

  it('connection.opened moves to busy and cancels the idle countdown', async () => {
    const daemon = await serving();
    await vi.advanceTimersByTimeAsync(IDLE_TTL - 1);

    daemon.actor.send({ type: 'connection.opened' });
    expect(daemon.value()).toEqual({ serving: 'busy' });
    expect(daemon.context().active).toBe(1);

    await vi.advanceTimersByTimeAsync(IDLE_TTL * 10);
    expect(daemon.value()).toEqual({ serving: 'busy' });
    expect(intake(daemon)).toEqual([]);
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
    expect(intake(daemon)).toEqual([]);

    await vi.advanceTimersByTimeAsync(1);
    expect(daemon.value()).toEqual({ draining: 'answering' });
    expect(intake(daemon)).toEqual(['markDraining', 'closeIntake(graceful)']);
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
    expect(daemon.value()).toEqual({ draining: 'answering' });
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
  ])('shutdown.requested {force: $force} from serving.$from -> draining, its intake closed that way', async ({ force, from }) => {
    const daemon = await serving();
    if (from === 'busy') daemon.actor.send({ type: 'connection.opened' });
    expect(daemon.value()).toEqual({ serving: from });

    daemon.actor.send({ type: 'shutdown.requested', force });
    // closingIntake is transient: graceful goes on to answering, forced to forcing.
    expect(daemon.value()).toEqual({ draining: force ? 'forcing' : 'answering' });
    expect(daemon.context()).toMatchObject({ force, stopReason: 'shutdown' });
    await settle();
    expect(intake(daemon)).toEqual(['markDraining', `closeIntake(${force ? 'forced' : 'graceful'})`]);
    expect(daemon.records).not.toContain('forceMailbox');
  });
});

describe('daemon machine: events while starting', () => {
  it('connections opened while starting are counted: serving begins busy, and idle once they close', async () => {
    const gate = deferred();
    const machine = daemonMachine.provide({
      actors: { loadObject: fromPromise(() => gate.promise), bindServer: fromPromise(async () => {}), publishMetadata: fromPromise(async () => {}) },
      delays: { idleTtl: IDLE_TTL, bootTimeout: BOOT_TIMEOUT },
    });
    const actor = createActor(machine);
    actors.push(actor);
    actor.start();
    actor.send({ type: 'connection.opened' });
    actor.send({ type: 'connection.opened' });
    actor.send({ type: 'connection.closed' });
    expect(actor.getSnapshot().value).toEqual({ starting: 'booting' });
    expect(actor.getSnapshot().context.active).toBe(1);
    gate.resolve();
    await settle();
    expect(actor.getSnapshot().value).toEqual({ serving: 'busy' });
    // Busy: no idle countdown runs.
    await vi.advanceTimersByTimeAsync(IDLE_TTL * 2);
    expect(actor.getSnapshot().value).toEqual({ serving: 'busy' });
    actor.send({ type: 'connection.closed' });
    expect(actor.getSnapshot().value).toEqual({ serving: 'idle' });
  });

  it.each([false, true])('shutdown.requested {force: %s} while booting drains at once with reason shutdown, never serving', async (force) => {
    const daemon = startDaemon({ loadObject: { kind: 'hang' } });
    await settle();
    daemon.actor.send({ type: 'shutdown.requested', force });
    expect(daemon.value()).toEqual({ draining: force ? 'forcing' : 'answering' });
    expect(daemon.context()).toMatchObject({ force, stopReason: 'shutdown' });
    await settle();
    expect(intake(daemon)).toEqual(['markDraining', `closeIntake(${force ? 'forced' : 'graceful'})`]);
    expect(daemon.reportReady).not.toHaveBeenCalled();
    // The boot deadline no longer applies: a drain is not a failed boot.
    await vi.advanceTimersByTimeAsync(BOOT_TIMEOUT);
    expect(daemon.reportFailure).not.toHaveBeenCalled();
  });
});

describe('daemon machine: draining', () => {
  /** A daemon draining after `how`, gracefully (in answering) or with force (in forcing). */
  async function draining(how: 'idle' | 'shutdown' | 'forced'): Promise<Harness> {
    const daemon = await serving();
    if (how === 'idle') await vi.advanceTimersByTimeAsync(IDLE_TTL);
    else daemon.actor.send({ type: 'shutdown.requested', force: how === 'forced' });
    await settle();
    expect(daemon.value()).toEqual({ draining: how === 'forced' ? 'forcing' : 'answering' });
    return daemon;
  }

  /** From forcing or answering: lets the calls end, so the daemon is disposing. */
  async function disposing(how: 'shutdown' | 'forced' = 'shutdown'): Promise<Harness> {
    const daemon = await draining(how);
    daemon.steps[how === 'forced' ? 'finishRunning' : 'answerCalls'].resolve();
    await settle();
    expect(daemon.value()).toEqual({ draining: 'disposing' });
    return daemon;
  }

  async function closingConnections(): Promise<Harness> {
    const daemon = await disposing();
    daemon.steps.dispose.resolve('dispose hook done');
    await settle();
    expect(daemon.value()).toEqual({ draining: 'closingConnections' });
    return daemon;
  }

  it('graceful: closingIntake -> answering -> disposing -> closingConnections -> stopped, each step once, in order', async () => {
    const daemon = await draining('shutdown');
    expect(daemon.records).toEqual(['markDraining', 'closeIntake(graceful)']);
    expect(daemon.started.answerCalls).toHaveBeenCalledTimes(1);
    expect(daemon.started.dispose).not.toHaveBeenCalled();

    daemon.steps.answerCalls.resolve();
    await settle();
    expect(daemon.value()).toEqual({ draining: 'disposing' });
    expect(daemon.started.dispose).toHaveBeenCalledTimes(1);
    expect(daemon.started.closeConnections).not.toHaveBeenCalled();

    daemon.steps.dispose.resolve('dispose hook done');
    await settle();
    expect(daemon.value()).toEqual({ draining: 'closingConnections' });
    expect(daemon.started.closeConnections).toHaveBeenCalledTimes(1);

    daemon.steps.closeConnections.resolve();
    await settle();
    expect(daemon.value()).toBe('stopped');
    expect(daemon.status()).toBe('done');
    expect(daemon.context().error).toBeUndefined();
    expect(daemon.reportFailure).not.toHaveBeenCalled();
    expect(daemon.started.finishRunning).not.toHaveBeenCalled();
    // The record is marked draining on entry and removed only on stopping; nothing was abandoned.
    expect(daemon.records).toEqual(['markDraining', 'closeIntake(graceful)', 'reportDisposed(dispose hook done)', 'unpublish']);
    expect(daemon.seen.slice(-4)).toEqual([{ draining: 'answering' }, { draining: 'disposing' }, { draining: 'closingConnections' }, 'stopped']);
  });

  it('forced: closingIntake -> forcing, which ends when the running call does', async () => {
    const daemon = await draining('forced');
    expect(daemon.records).toEqual(['markDraining', 'closeIntake(forced)']);
    expect(daemon.started.finishRunning).toHaveBeenCalledTimes(1);
    expect(daemon.started.answerCalls).not.toHaveBeenCalled();
    daemon.steps.finishRunning.resolve();
    await settle();
    expect(daemon.value()).toEqual({ draining: 'disposing' });
    expect(daemon.seen.slice(-2)).toEqual([{ draining: 'forcing' }, { draining: 'disposing' }]);
  });

  it('forced: a running call that outlasts forceGrace is left running, and the dispose hook runs', async () => {
    const daemon = await draining('forced');
    await vi.advanceTimersByTimeAsync(FORCE_GRACE_MS - 1);
    expect(daemon.value()).toEqual({ draining: 'forcing' });
    expect(daemon.started.dispose).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(daemon.value()).toEqual({ draining: 'disposing' });
    expect(daemon.started.dispose).toHaveBeenCalledTimes(1);
    // The call ending late changes nothing.
    daemon.steps.finishRunning.resolve();
    await settle();
    expect(daemon.value()).toEqual({ draining: 'disposing' });
    expect(daemon.started.dispose).toHaveBeenCalledTimes(1);
  });

  it.each(['idle', 'shutdown'] as const)('escalation: a forced shutdown while answering (after %s) is a transition to forcing that forces the mailbox', async (how) => {
    const daemon = await draining(how);
    await vi.advanceTimersByTimeAsync(DRAIN_TIMEOUT / 4);

    daemon.actor.send({ type: 'shutdown.requested', force: true });
    expect(daemon.value()).toEqual({ draining: 'forcing' });
    expect(daemon.context().force).toBe(true);
    expect(daemon.records).toEqual(['markDraining', 'closeIntake(graceful)', 'forceMailbox']);
    await settle();
    expect(daemon.started.finishRunning).toHaveBeenCalledTimes(1);
    // The graceful wait is over: its answer, late, is ignored.
    daemon.steps.answerCalls.resolve();
    await settle();
    expect(daemon.value()).toEqual({ draining: 'forcing' });

    // The force grace counts from the escalation.
    await vi.advanceTimersByTimeAsync(FORCE_GRACE_MS - 1);
    expect(daemon.value()).toEqual({ draining: 'forcing' });
    await vi.advanceTimersByTimeAsync(1);
    expect(daemon.value()).toEqual({ draining: 'disposing' });
    // The drain was not restarted.
    expect(intake(daemon)).toEqual(['markDraining', 'closeIntake(graceful)']);
  });

  it('a graceful shutdown while answering does nothing', async () => {
    const daemon = await draining('idle');
    const before = daemon.context();

    daemon.actor.send({ type: 'shutdown.requested', force: false });
    await settle();
    expect(daemon.value()).toEqual({ draining: 'answering' });
    expect(daemon.context()).toEqual(before);
    expect(daemon.records).toEqual(['markDraining', 'closeIntake(graceful)']);
    expect(daemon.started.answerCalls).toHaveBeenCalledTimes(1);
  });

  it.each([
    { state: 'forcing', reach: () => draining('forced') },
    { state: 'disposing', reach: () => disposing() },
    { state: 'closingConnections', reach: () => closingConnections() },
  ])('any shutdown in $state changes nothing: the mailbox has stopped taking calls', async ({ state, reach }) => {
    const daemon = await reach();
    const records = [...daemon.records];
    const context = daemon.context();
    daemon.actor.send({ type: 'shutdown.requested', force: true });
    daemon.actor.send({ type: 'shutdown.requested', force: false });
    await settle();
    expect(daemon.value()).toEqual({ draining: state });
    expect(daemon.records).toEqual(records);
    expect(daemon.context()).toEqual(context);
  });

  it('disposing: the hook outlasting disposeTimeout is reported, and the drain goes on without it', async () => {
    const daemon = await disposing();
    await vi.advanceTimersByTimeAsync(DISPOSE_TIMEOUT_MS - 1);
    expect(daemon.value()).toEqual({ draining: 'disposing' });
    await vi.advanceTimersByTimeAsync(1);
    expect(daemon.value()).toEqual({ draining: 'closingConnections' });
    expect(daemon.records.slice(-1)).toEqual(['reportDisposeOverrun']);
    // The hook finishing late is not reported.
    daemon.steps.dispose.resolve('dispose hook done');
    await settle();
    expect(daemon.records).not.toContain('reportDisposed(dispose hook done)');
  });

  it('disposing: an object without a hook reports nothing to log', async () => {
    const daemon = await disposing('forced');
    daemon.steps.dispose.resolve(undefined);
    await settle();
    expect(daemon.value()).toEqual({ draining: 'closingConnections' });
    expect(daemon.records.slice(-1)).toEqual(['reportDisposed(undefined)']);
  });

  it('closingConnections: past closeGrace the daemon stops with connections still closing', async () => {
    const daemon = await closingConnections();
    await vi.advanceTimersByTimeAsync(CLOSE_GRACE_MS - 1);
    expect(daemon.value()).toEqual({ draining: 'closingConnections' });
    await vi.advanceTimersByTimeAsync(1);
    expect(daemon.value()).toBe('stopped');
    expect(daemon.status()).toBe('done');
    expect(daemon.records.slice(-1)).toEqual(['unpublish']);
    expect(daemon.records).not.toContain('reportAbandoned');
  });

  it('does not start an idle countdown or report ready while draining', async () => {
    const daemon = await draining('shutdown');
    daemon.actor.send({ type: 'connection.opened' });
    daemon.actor.send({ type: 'connection.closed' });
    await vi.advanceTimersByTimeAsync(IDLE_TTL * 5);
    expect(daemon.value()).toEqual({ draining: 'answering' });
    expect(intake(daemon)).toEqual(['markDraining', 'closeIntake(graceful)']);
    expect(daemon.reportReady).toHaveBeenCalledTimes(1);
  });

  it('a drain that outlasts drainTimeout -> stopped, reporting the abandoned calls, then unpublishing', async () => {
    const daemon = await draining('shutdown');
    await vi.advanceTimersByTimeAsync(DRAIN_TIMEOUT - 1);
    expect(daemon.value()).toEqual({ draining: 'answering' });
    expect(daemon.records).toEqual(['markDraining', 'closeIntake(graceful)']);
    await vi.advanceTimersByTimeAsync(1);
    expect(daemon.value()).toBe('stopped');
    expect(daemon.status()).toBe('done');
    expect(daemon.records).toEqual(['markDraining', 'closeIntake(graceful)', 'reportAbandoned', 'unpublish']);
    // The step that never finished settles late: ignored.
    daemon.steps.answerCalls.resolve();
    await settle();
    expect(daemon.records).toEqual(['markDraining', 'closeIntake(graceful)', 'reportAbandoned', 'unpublish']);
    expect(daemon.started.dispose).not.toHaveBeenCalled();
  });

  it('the drain deadline counts from the drain start: an escalation does not restart it', async () => {
    const daemon = await draining('shutdown');
    const left = FORCE_GRACE_MS / 2;
    await vi.advanceTimersByTimeAsync(DRAIN_TIMEOUT - left);
    daemon.actor.send({ type: 'shutdown.requested', force: true });
    expect(daemon.value()).toEqual({ draining: 'forcing' });
    // The force grace would end past the deadline: the deadline wins.
    await vi.advanceTimersByTimeAsync(left - 1);
    expect(daemon.value()).toEqual({ draining: 'forcing' });
    await vi.advanceTimersByTimeAsync(1);
    expect(daemon.value()).toBe('stopped');
    expect(daemon.records.slice(-2)).toEqual(['reportAbandoned', 'unpublish']);
    expect(daemon.started.dispose).not.toHaveBeenCalled();
  });

  it('the drain deadline cuts the later steps too', async () => {
    const daemon = await draining('shutdown');
    await vi.advanceTimersByTimeAsync(DRAIN_TIMEOUT - CLOSE_GRACE_MS / 2);
    daemon.steps.answerCalls.resolve();
    await settle();
    daemon.steps.dispose.resolve(undefined);
    await settle();
    expect(daemon.value()).toEqual({ draining: 'closingConnections' });
    await vi.advanceTimersByTimeAsync(CLOSE_GRACE_MS / 2);
    expect(daemon.value()).toBe('stopped');
    expect(daemon.records.slice(-2)).toEqual(['reportAbandoned', 'unpublish']);
  });

  it.each(DRAIN_STEPS)('%s rejecting -> failed with its error recorded, and reportFailure', async (step) => {
    const daemon =
      step === 'answerCalls'
        ? await draining('shutdown')
        : step === 'finishRunning'
          ? await draining('forced')
          : step === 'dispose'
            ? await disposing()
            : await closingConnections();
    daemon.steps[step].reject(new Error(`${step} broke`));
    await settle();
    expect(daemon.value()).toBe('failed');
    expect(daemon.status()).toBe('done');
    expect(daemon.context().error).toMatchObject({ code: 'ERR_LOOPBACK_SINGLETON', name: 'Error', message: `${step} broke` });
    expect(daemon.reportFailure).toHaveBeenCalledTimes(1);
    expect(daemon.reportFailure.mock.calls[0]![0].error?.message).toBe(`${step} broke`);
    expect(daemon.records).not.toContain('unpublish');
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
    expect(intake(daemon)).toEqual([]);
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
