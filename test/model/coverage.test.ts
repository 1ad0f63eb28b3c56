/**
 * Coverage that cannot drift: for each statechart, every state and every transition is read
 * from the machine's definition (transitionsOf), and the test fails when one is not taken by
 * some generated path (exercisedBy replays the paths through the machine) unless the paths
 * file lists it in EXCLUDED with a reason. Exclusions are checked too: each must name a real
 * transition that no path takes, so the list cannot go stale. The figures are printed.
 */
import { describe, expect, it } from 'vitest';
import type { AnyStateMachine } from 'xstate';
import { clientMachine } from '../../machines/client.machine.js';
import { daemonMachine } from '../../machines/daemon.machine.js';
import { clientHandshakeMachine } from '../../machines/client-handshake.machine.js';
import { daemonHandshakeMachine } from '../../machines/daemon-handshake.machine.js';
import { mailboxMachine } from '../../machines/mailbox.machine.js';
import { supervisorMachine } from '../../machines/supervisor.machine.js';
import * as client from './client.paths.js';
import { exercisedBy, transitionsOf, type Exclusion, type ModelPath } from './coverage.js';
import * as daemon from './daemon.paths.js';
import * as handshake from './handshake.paths.js';
import * as mailbox from './mailbox.paths.js';
import * as supervisor from './supervisor.paths.js';

/** Every statechart with model-based tests, and its generated paths: the one list to extend. */
const MODELS: ReadonlyArray<{ name: string; machine: AnyStateMachine; generated: { paths: readonly ModelPath[]; EXCLUDED: readonly Exclusion[] } }> = [
  { name: 'daemon', machine: daemonMachine, generated: daemon },
  { name: 'mailbox', machine: mailboxMachine, generated: mailbox },
  { name: 'client', machine: clientMachine, generated: client },
  { name: 'supervisor', machine: supervisorMachine, generated: supervisor },
  { name: 'client handshake', machine: clientHandshakeMachine, generated: handshake.client },
  { name: 'daemon handshake', machine: daemonHandshakeMachine, generated: handshake.daemon },
];

describe('model coverage: every state and transition of every statechart is taken by a generated path', () => {
  for (const { name, machine, generated } of MODELS) {
    it(name, () => {
      const { paths, EXCLUDED } = generated;
      const all = transitionsOf(machine);
      const taken = exercisedBy(machine, paths);
      const keys = new Set(all.transitions.map((t) => t.key));

      // The paths were generated from this very machine (a TestModel may wrap it, never copy it).
      for (const path of paths) {
        let logic: unknown = path.state.machine;
        while (logic !== null && logic !== machine) logic = Object.getPrototypeOf(logic);
        expect(logic, `a ${name} path was generated from another machine object`).toBe(machine);
      }

      for (const exclusion of EXCLUDED) {
        expect(keys.has(exclusion.transition), `EXCLUDED names no ${name} transition: ${exclusion.transition}`).toBe(true);
        expect(exclusion.reason.trim().length, `EXCLUDED gives no reason for ${exclusion.transition}`).toBeGreaterThan(0);
        expect(taken.transitions.has(exclusion.transition), `EXCLUDED lists a transition the paths take: ${exclusion.transition}`).toBe(false);
      }
      const excluded = new Set(EXCLUDED.map((exclusion) => exclusion.transition));

      const statesMissed = all.states.filter((state) => !taken.states.has(state.id)).map((state) => state.id);
      const transitionsMissed = all.transitions.filter((t) => !taken.transitions.has(t.key) && !excluded.has(t.key)).map((t) => t.key);
      const statesTaken = all.states.length - statesMissed.length;
      const transitionsTaken = all.transitions.filter((t) => taken.transitions.has(t.key)).length;

      console.log(
        `${name}: ${statesTaken}/${all.states.length} states, ${transitionsTaken + excluded.size}/${all.transitions.length} transitions ` +
          `(${transitionsTaken} taken by ${paths.length} paths, ${excluded.size} excluded)`,
      );
      for (const exclusion of EXCLUDED) console.log(`  excluded: ${exclusion.transition} — ${exclusion.reason}`);

      expect(statesMissed, `${name} states no generated path reaches`).toEqual([]);
      expect(transitionsMissed, `${name} transitions no generated path takes and EXCLUDED does not list`).toEqual([]);
    });
  }
});
