/**
 * Model-based lifecycle tests of the daemon: every path daemon.paths.ts generates from the
 * daemon statechart is driven against a real daemon process. Each event is a real action
 * (spawn it, make its factory throw or hang, corrupt its token, block its metadata file, open
 * or close a client connection, let its idle TTL pass, shut it down over the protocol or by
 * signal, crash its hosted code, release the call holding its drain or its dispose hook, or
 * let them outlast the force grace or the dispose timeout), and each state is an
 * assertion on what can be seen from outside: the transitions the daemon reports (they must
 * be the path's, in order), metadata.json, whether the pid lives, `ping()` (state, active,
 * running, queued), the replies calls get, daemon.log's exit line, the spawner's boot report.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import type { DaemonContext } from '../../machines/daemon.machine.js';
import { describePath, type ModelEvent, type ModelPath } from './coverage.js';
import { BOOT_FAILURES, callIsRunning, CRASH, DISPOSE_TIMEOUT, DRAIN_DEADLINE, drainIsHeld, FORCE_GRACE, paths } from './daemon.paths.js';
import type { DaemonOverrides } from '../support/daemon.js';
import { DaemonWorld, eventually, HANGS_URL, IMPORT_FAILS_URL, MODEL_URL, SERVICES_URL, within, type TraceRecord } from './daemon-world.js';

/** Short enough to wait for, long enough for a test to act on a serving daemon first. */
const IDLE_TTL_MS = 1500;
const BOOT_TIMEOUT_MS = 400;
/** Long enough to look at a held drain first; the deadline then ends it, the gate still held. */
const DRAIN_TIMEOUT_MS = 2500;

type Snapshot = AnyMachineSnapshot & { context: DaemonContext };
type Step = ModelPath['steps'][number];

/**
 * What the path needs from the daemon before it starts (the factory, the delays, sabotaged
 * runtime files): arranges it in `world` and returns the daemon's config overrides.
 */
function scenarioOf(path: ModelPath): (world: DaemonWorld) => DaemonOverrides {
  const events = path.steps.slice(1).map((step) => step.event as ModelEvent);
  const has = (type: string, error?: string) => events.some((e) => e.type === type && (error === undefined || e.error === error));
  const factory = (module: string, name: string) => ({ module, export: name, argsHash: 'model', codeHash: undefined });
  const idleTtlMs = has('xstate.after.idleTtl.daemon.serving.idle') ? IDLE_TTL_MS : 60_000;
  const drainTimeoutMs = has(DRAIN_DEADLINE) ? DRAIN_TIMEOUT_MS : 60_000;
  return (world) => ({ drainTimeoutMs, ...overrides(world) });
  function overrides(world: DaemonWorld): DaemonOverrides {
    if (has('xstate.error.actor.loadObject', BOOT_FAILURES.factoryThrows)) return { idleTtlMs, factory: factory(SERVICES_URL, 'Throws') };
    if (has('xstate.error.actor.loadObject', BOOT_FAILURES.importFails)) return { idleTtlMs, factory: factory(IMPORT_FAILS_URL, 'default') };
    if (has('xstate.after.bootTimeout.daemon.starting')) return { idleTtlMs, factory: factory(HANGS_URL, 'never'), bootTimeoutMs: BOOT_TIMEOUT_MS };
    if (events[0] && events[0].type !== 'xstate.done.actor.loadObject') {
      // Something happens while booting: a factory that never finishes keeps it there.
      return { idleTtlMs, factory: factory(MODEL_URL, 'hang'), args: [world.marker] };
    }
    if (has('xstate.error.actor.bindServer', BOOT_FAILURES.tokenMalformed)) writeFileSync(world.paths.token, 'not a token', { mode: 0o600 });
    if (has('xstate.error.actor.publishMetadata', BOOT_FAILURES.metadataIsDirectory)) mkdirSync(world.paths.metadata);
    // A dispose hook the test holds until it has outlasted disposeTimeout.
    if (has(DISPOSE_TIMEOUT)) return { idleTtlMs, factory: factory(MODEL_URL, 'GatedDispose'), args: [world.release] };
    return { idleTtlMs, factory: factory(MODEL_URL, 'Model') };
  }
}

/** The transitions the daemon must have reported once the path reached step `index`. */
function expectedTrace(path: ModelPath, index: number): TraceRecord[] {
  const trace: TraceRecord[] = [{ to: path.steps[0]!.state.value, event: 'xstate.init' }];
  for (let i = 1; i <= index; i++) {
    const { state, event } = path.steps[i]!;
    if (JSON.stringify(state.value) !== JSON.stringify(path.steps[i - 1]!.state.value)) trace.push({ to: state.value, event: event.type });
  }
  return trace;
}

/** Events the test itself causes: the daemon waits in the state before them. */
const CAUSED = new Set(['shutdown.requested', 'connection.opened', 'connection.closed', 'daemon.crashed']);

async function drive(path: ModelPath): Promise<void> {
  const world = new DaemonWorld();
  const scenario = scenarioOf(path);
  let index = 0;
  /** The snapshot before the step being executed. */
  const before = () => path.steps[index - 1]!.state as Snapshot;
  const next = () => path.steps[index + 1]?.event;
  let released = false;
  const at = (step: Step) => {
    index = path.steps.indexOf(step);
    expect(index).toBeGreaterThanOrEqual(0);
  };
  let clientClosedByTest = false;
  const release = (step: Step) => {
    at(step);
    if (world.work) world.releaseGate();
    released = true;
  };

  const checkTrace = async (final: boolean) => {
    const expected = expectedTrace(path, index);
    await eventually(() => expect(world.trace('daemon').slice(0, expected.length)).toEqual(expected));
    if (final) expect(world.trace('daemon')).toEqual(expected);
  };
  const noValidMetadata = () => expect(world.metadata().status).not.toBe('valid');

  const events: Record<string, (step: Step) => Promise<void> | void> = {
    'xstate.init': (step) => {
      at(step);
      world.launch(scenario(world));
    },
    'xstate.done.actor.loadObject': at,
    'xstate.done.actor.bindServer': at,
    'xstate.error.actor.loadObject': at,
    'xstate.error.actor.bindServer': at,
    'xstate.error.actor.publishMetadata': at,
    'xstate.after.bootTimeout.daemon.starting': at,
    'xstate.after.idleTtl.daemon.serving.idle': at,
    [DRAIN_DEADLINE]: at,
    // The held call (forcing) or dispose hook (disposing) is left running: the chart's own timer ends the wait.
    [FORCE_GRACE]: at,
    [DISPOSE_TIMEOUT]: at,
    'xstate.done.actor.closeConnections': at,
    'xstate.done.actor.publishMetadata': async (step) => {
      at(step);
      expect(await world.boot()).toEqual({ ok: true });
      // An observer (never counted as active) to look with, unless the idle TTL is about to end it.
      if (next()?.type !== 'xstate.after.idleTtl.daemon.serving.idle') world.observer = await world.connect(true);
    },
    'connection.opened': async (step) => {
      at(step);
      world.client = await world.connect(false);
    },
    'connection.closed': (step) => {
      at(step);
      world.client!.close();
      clientClosedByTest = true;
    },
    'shutdown.requested': async (step) => {
      at(step);
      const force = (step.event as ModelEvent).force as boolean;
      const from = before();
      if (from.matches('starting')) {
        expect(force).toBe(false);
        process.kill(world.pid, 'SIGTERM');
      } else if (from.matches('serving')) {
        // A client's shutdown comes with work queued, so the drain has something to answer.
        if (world.client) await world.queueWork();
        await within((world.client ?? world.observer!).shutdown(force), 'shutdown');
      } else {
        await within((world.client ?? world.observer!).shutdown(force), 'shutdown');
      }
    },
    'daemon.crashed': async (step) => {
      at(step);
      const from = before();
      if (from.matches('serving') && world.client) {
        // The hosted object's own method schedules the uncaught exception.
        await expect(within(world.client.call('crashSoon', []), 'a call')).resolves.toBe('armed');
      } else {
        // No call can get in (booting, draining, or no client): the hosted module's SIGUSR2 hook.
        process.kill(world.pid, 'SIGUSR2');
      }
    },
    // The drain waits for the gate call (graceful: with the calls behind it; forced: alone): let it end.
    'xstate.done.actor.answerCalls': release,
    'xstate.done.actor.finishRunning': release,
    'xstate.done.actor.dispose': (step) => {
      at(step);
      world.releaseDispose();
    },
  };

  const states: Record<string, (snapshot: Snapshot) => Promise<void>> = {
    'starting.booting': async () => {
      await checkTrace(false);
      // Unless the factory finishes (then the daemon may have published by now), it never will.
      if (next()?.type !== 'xstate.done.actor.loadObject') noValidMetadata();
      if (CAUSED.has(next()?.type ?? '')) {
        // The daemon stays here until the test acts. The hang factory has run: the hosted
        // module, and its crash hook, are loaded.
        await eventually(() => expect(existsSync(world.marker)).toBe(true));
        expect(world.alive()).toBe(true);
      }
    },
    'starting.binding': () => checkTrace(false),
    'starting.publishing': () => checkTrace(false),
    serving: async (snapshot) => {
      await checkTrace(false);
      // The daemon stays here until the test acts, unless the path waits for its idle TTL.
      if (next()?.type !== 'xstate.after.idleTtl.daemon.serving.idle') {
        const read = world.metadata();
        expect(read.status).toBe('valid');
        if (read.status === 'valid') expect(read.metadata.pid).toBe(world.pid);
        expect(world.alive()).toBe(true);
        await eventually(async () => {
          const info = await world.ping();
          expect(info).toMatchObject({ state: snapshot.value, active: snapshot.context.active, running: 0, queued: 0 });
        });
      }
    },
    draining: async (snapshot) => {
      await checkTrace(false);
      // Its record stays, marked draining: new clients wait for it to exit rather than start
      // another beside it (a daemon stopped while booting never published one).
      const work = world.work;
      const held = work !== undefined && !released && !snapshot.context.force;
      if (held) {
        await eventually(() => expect(world.metadata()).toMatchObject({ status: 'valid', metadata: { pid: world.pid, draining: true } }));
      } else if (!path.steps.some((step) => (step.state as Snapshot).matches('serving'))) {
        noValidMetadata();
      } else {
        // A drain with nothing to wait for may be over already: marked draining, or gone with its process.
        const read = world.metadata();
        if (read.status === 'valid') expect(read.metadata).toMatchObject({ pid: world.pid, draining: true });
        else expect(read.status).toBe('absent');
      }
      // Held by the gate call until the test releases it (a forced drain does not wait for it).
      if (work && !released && !snapshot.context.force) {
        expect(world.alive()).toBe(true);
        await eventually(async () => {
          const info = await world.ping();
          expect(info).toMatchObject({ state: 'draining', active: snapshot.context.active, running: 1, queued: 2 });
        });
        if (world.client?.isOpen) {
          await expect(within(world.client.call('echo', ['late']), 'a call')).rejects.toMatchObject({ code: 'ERR_DAEMON_DRAINING' });
        }
      }
      if (work && snapshot.context.force && !clientClosedByTest) {
        // Forced (at once or escalated): the waiting calls are refused, never run.
        for (const { call, proof } of work.waiting) {
          expect(await call.outcome()).toMatchObject({ ok: false, code: 'ERR_SHUTDOWN_FORCED' });
          expect(existsSync(proof)).toBe(false);
        }
      }
      if (drainIsHeld(snapshot)) expect(work).toBeDefined();
    },
    'draining.forcing': async (snapshot) => {
      if (!callIsRunning(snapshot) || released) return;
      // The waiting calls were refused; the gate call still runs, in its force grace.
      expect(world.work).toBeDefined();
      await eventually(async () => {
        const info = await world.ping();
        expect(info).toMatchObject({ state: 'draining', running: 1, queued: 0 });
      });
      expect(world.alive()).toBe(true);
    },
    'draining.disposing': async () => {
      if (path.steps[index]!.event.type === FORCE_GRACE) {
        // The gate call outlasted the force grace: the drain went on without it, and the daemon
        // stops (by itself: this path ends here) without answering it.
        expect(await world.work!.gate.outcome()).toMatchObject({ ok: false, code: 'ERR_DAEMON_LOST' });
        expect(await world.exited()).toContain('exit 0 (stopped)');
      }
      if (next()?.type !== DISPOSE_TIMEOUT) return;
      // The held hook runs (no call does), and keeps the daemon here.
      await eventually(() => expect(existsSync(`${world.release}.disposing`)).toBe(true));
      expect(world.alive()).toBe(true);
      expect(world.log()).not.toContain('dispose hook');
    },
    stopped: async (snapshot) => {
      const log = await world.exited();
      await checkTrace(true);
      expect(log).toContain('exit 0 (stopped)');
      expect(world.metadata().status).toBe('absent');
      const work = world.work;
      const deadline = path.steps.some((step) => step.event.type === DRAIN_DEADLINE);
      if (deadline) {
        // The gate call was never released: abandoned at the deadline, and the log says so.
        expect(log).toContain(`drain deadline passed (drainTimeoutMs ${DRAIN_TIMEOUT_MS} ms): exiting with 1 running call (gate) and 2 queued call(s) abandoned`);
        expect(await work!.gate.outcome()).toMatchObject({ ok: false, code: 'ERR_DAEMON_LOST' });
      } else if (work && !snapshot.context.force && !clientClosedByTest) {
        // Graceful: every admitted call ran and was answered.
        expect(await work.gate.outcome()).toEqual({ ok: true, value: 'gate-done' });
        for (const { call, proof } of work.waiting) {
          expect(await call.outcome()).toEqual({ ok: true, value: proof });
          expect(existsSync(proof)).toBe(true);
        }
      }
      if (work && snapshot.context.force && !clientClosedByTest) {
        for (const { call, proof } of work.waiting) {
          expect(await call.outcome()).toMatchObject({ ok: false, code: 'ERR_SHUTDOWN_FORCED' });
          expect(existsSync(proof)).toBe(false);
        }
      }
      if (work && snapshot.context.force && path.steps.some((step) => step.event.type === 'xstate.done.actor.finishRunning')) {
        // Released within the force grace: the running call was answered.
        expect(await work.gate.outcome()).toEqual({ ok: true, value: 'gate-done' });
      }
      if (path.steps.some((step) => step.event.type === DISPOSE_TIMEOUT)) {
        expect(log).toContain('dispose hook still running after 5000 ms; exiting anyway');
        expect(log).not.toContain('dispose hook done');
      }
      const boot = await world.boot();
      // Stopped before it was ever ready: the spawner hears the process end without a report.
      if (!path.steps.some((step) => (step.state as Snapshot).matches('serving'))) {
        expect(boot).toMatchObject({ ok: false, error: { code: 'ERR_CONNECTION_FAILED' } });
      }
    },
    failed: async (snapshot) => {
      const log = await world.exited();
      await checkTrace(true);
      const { error } = snapshot.context;
      // The model's payloads are strings, recorded under the step's code. A malformed token is
      // the library's own LoopbackSingletonError in a real daemon, which keeps its own code.
      const code = error!.message === BOOT_FAILURES.tokenMalformed ? 'ERR_LOOPBACK_SINGLETON' : error!.code;
      expect(log).toContain('exit 1 (failed)');
      expect(log).toContain(`failed (${code})`);
      if (error!.message === CRASH.message) expect(log).toContain(CRASH.message);
      noValidMetadata();
      if (!path.steps.some((step) => (step.state as Snapshot).matches('serving'))) {
        // Failed while starting: the spawner is told why, under the same code.
        expect(await world.boot()).toMatchObject({ ok: false, error: { code } });
      }
    },
  };

  try {
    await path.test({ states: states as never, events: events as never });
  } finally {
    await world.dispose();
  }
}

describe('daemon statechart, driven against real daemon processes', () => {
  it('has paths to drive', () => {
    expect(paths.length).toBeGreaterThan(0);
  });
  for (const path of paths) {
    it(describePath(path), () => drive(path), 30_000);
  }
});
