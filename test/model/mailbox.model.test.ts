/**
 * Model-based tests of the mailbox: every path mailbox.paths.ts generates from the mailbox
 * statechart is driven against the mailbox of a real daemon process, which always has work:
 * a client's gate call holds it (running) with two calls waiting behind it, each of which
 * leaves a file behind if it runs.
 *
 * Events are real actions: `mailbox.close` is a shutdown over the protocol (graceful or
 * forced; forced while draining is the escalation), `xstate.done.actor.awaitIdle` is letting
 * the held call finish. States are what a client sees: the transitions the daemon reports
 * for its mailbox, `ping()` (running, queued), and the replies — an open door polices calls
 * (ERR_METHOD_NOT_ALLOWED), a closing one refuses them (ERR_DAEMON_DRAINING), a graceful close
 * runs and answers every admitted call, a forced one refuses the waiting calls
 * (ERR_SHUTDOWN_FORCED) without running them.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { AnyMachineSnapshot } from 'xstate';
import { describePath, type ModelEvent, type ModelPath } from './coverage.js';
import { DaemonWorld, eventually, within, MODEL_URL, type TraceRecord } from './daemon-world.js';
import { paths } from './mailbox.paths.js';

type Step = ModelPath['steps'][number];

/** The mailbox transitions the daemon must have reported once the path reached step `index`. */
function expectedTrace(path: ModelPath, index: number): TraceRecord[] {
  const trace: TraceRecord[] = [{ to: path.steps[0]!.state.value, event: 'xstate.init' }];
  for (let i = 1; i <= index; i++) {
    const { state, event } = path.steps[i]!;
    if (JSON.stringify(state.value) !== JSON.stringify(path.steps[i - 1]!.state.value)) trace.push({ to: state.value, event: event.type });
  }
  return trace;
}

async function drive(path: ModelPath): Promise<void> {
  const world = new DaemonWorld();
  let index = 0;
  let forced = false;
  const at = (step: Step) => {
    index = path.steps.indexOf(step);
    expect(index).toBeGreaterThanOrEqual(0);
  };
  const checkTrace = async (final: boolean) => {
    const expected = expectedTrace(path, index);
    await eventually(() => expect(world.trace('mailbox').slice(0, expected.length)).toEqual(expected));
    if (final) {
      // Nothing more happens to a closed mailbox, however the daemon ends.
      await world.exited();
      expect(world.trace('mailbox')).toEqual(expected);
    }
  };

  const events: Record<string, (step: Step) => Promise<void> | void> = {
    'xstate.init': async (step) => {
      at(step);
      world.launch({ factory: { module: MODEL_URL, export: 'Model', argsHash: 'model', codeHash: undefined } });
      expect(await world.boot()).toEqual({ ok: true });
      world.observer = await world.connect(true);
      world.client = await world.connect(false);
      await world.queueWork();
    },
    'mailbox.close': async (step) => {
      at(step);
      const force = (step.event as ModelEvent).force as boolean;
      forced ||= force;
      await within(world.client!.shutdown(force), 'shutdown');
    },
    'xstate.done.actor.awaitIdle': (step) => {
      at(step);
      world.releaseGate();
    },
  };

  const states: Record<string, (snapshot: AnyMachineSnapshot) => Promise<void>> = {
    accepting: async () => {
      await checkTrace(false);
      const info = await world.ping();
      expect(info).toMatchObject({ state: { serving: 'busy' }, running: 1, queued: 2 });
      // The door is open: a call is judged by the admission policy, not refused wholesale.
      await expect(within(world.client!.call('_private', []), 'a call')).rejects.toMatchObject({ code: 'ERR_METHOD_NOT_ALLOWED' });
      for (const { proof } of world.work!.waiting) expect(existsSync(proof)).toBe(false);
    },
    draining: async () => {
      await checkTrace(false);
      // Held by the gate: nothing new gets in, and what was admitted still waits its turn.
      const info = await world.ping();
      expect(info).toMatchObject({ state: 'draining', running: 1, queued: 2 });
      await expect(within(world.client!.call('echo', ['late']), 'a call')).rejects.toMatchObject({ code: 'ERR_DAEMON_DRAINING' });
      await expect(within(world.client!.call('_private', []), 'a call')).rejects.toMatchObject({ code: 'ERR_DAEMON_DRAINING' });
      for (const { proof } of world.work!.waiting) expect(existsSync(proof)).toBe(false);
    },
    closed: async () => {
      const work = world.work!;
      if (forced) {
        // The waiting calls are answered ERR_SHUTDOWN_FORCED and never run.
        for (const { call, proof } of work.waiting) {
          expect(await call.outcome()).toMatchObject({ ok: false, code: 'ERR_SHUTDOWN_FORCED' });
          expect(existsSync(proof)).toBe(false);
        }
        // Let the running call end: it is still answered (a forced drain, direct or escalated,
        // gives the running call a grace period before the dispose hook and exit).
        world.releaseGate();
        expect(await work.gate.outcome()).toEqual({ ok: true, value: 'gate-done' });
      } else {
        // Every admitted call ran, in order, and was answered.
        expect(await work.gate.outcome()).toEqual({ ok: true, value: 'gate-done' });
        for (const { call, proof } of work.waiting) {
          expect(await call.outcome()).toEqual({ ok: true, value: proof });
          expect(existsSync(proof)).toBe(true);
        }
      }
      await checkTrace(true);
      expect(world.log()).toContain('exit 0 (stopped)');
      for (const { proof } of work.waiting) expect(existsSync(proof)).toBe(!forced);
    },
  };

  try {
    await path.test({ states: states as never, events: events as never });
  } finally {
    await world.dispose();
  }
}

describe('mailbox statechart, driven against real daemon processes', () => {
  it('has paths to drive', () => {
    expect(paths.length).toBeGreaterThan(0);
  });
  for (const path of paths) {
    it(describePath(path), () => drive(path), 30_000);
  }
});
