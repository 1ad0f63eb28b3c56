/**
 * Coverage that cannot drift, checked against an oracle that does not come from the charts:
 * charts.json, a committed list of every machine's states and transitions. Each machine's
 * definition (transitionsOf) must hold exactly the listed ones, so a transition removed from a
 * chart, or one added to it, fails here until the list says so too. Then every listed state
 * and transition must be taken by some generated path (exercisedBy replays the paths through
 * the machine) unless the paths file lists it in EXCLUDED with a reason. Exclusions are checked
 * too: each must name a real transition that no path takes, so the list cannot go stale. The
 * figures are printed.
 */
import { readFileSync } from 'node:fs';
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

/** The oracle: each machine's states (ids) and transitions (keys), as written down in charts.json. */
const CHARTS = JSON.parse(readFileSync(new URL('./charts.json', import.meta.url), 'utf8')) as Record<string, { states: string[]; transitions: string[] }>;

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
  it('charts.json lists exactly the statecharts that have model-based tests', () => {
    expect(Object.keys(CHARTS).filter((key) => key !== '$comment')).toEqual(MODELS.map((model) => model.name));
  });

  for (const { name, machine, generated } of MODELS) {
    it(`${name}: the definition holds exactly the states and transitions charts.json lists`, () => {
      const chart = CHARTS[name]!;
      const all = transitionsOf(machine);
      const states = all.states.map((state) => state.id);
      const transitions = all.transitions.map((t) => t.key);
      expect(
        chart.states.filter((id) => !states.includes(id)),
        `${name} states charts.json lists that the machine no longer has`,
      ).toEqual([]);
      expect(
        states.filter((id) => !chart.states.includes(id)),
        `${name} states the machine has that charts.json does not list`,
      ).toEqual([]);
      expect(
        chart.transitions.filter((key) => !transitions.includes(key)),
        `${name} transitions charts.json lists that the machine no longer has`,
      ).toEqual([]);
      expect(
        transitions.filter((key) => !chart.transitions.includes(key)),
        `${name} transitions the machine has that charts.json does not list`,
      ).toEqual([]);
    });

    it(name, () => {
      const { paths, EXCLUDED } = generated;
      // Measured against the oracle, not against what the definition says of itself.
      const chart = CHARTS[name]!;
      const taken = exercisedBy(machine, paths);
      const keys = new Set(chart.transitions);

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

      const statesMissed = chart.states.filter((id) => !taken.states.has(id));
      const transitionsMissed = chart.transitions.filter((key) => !taken.transitions.has(key) && !excluded.has(key));
      const statesTaken = chart.states.length - statesMissed.length;
      const transitionsTaken = chart.transitions.filter((key) => taken.transitions.has(key)).length;

      console.log(
        `${name}: ${statesTaken}/${chart.states.length} states, ${transitionsTaken + excluded.size}/${chart.transitions.length} transitions ` +
          `(${transitionsTaken} taken by ${paths.length} paths, ${excluded.size} excluded)`,
      );
      for (const exclusion of EXCLUDED) console.log(`  excluded: ${exclusion.transition} — ${exclusion.reason}`);

      expect(statesMissed, `${name} states no generated path reaches`).toEqual([]);
      expect(transitionsMissed, `${name} transitions no generated path takes and EXCLUDED does not list`).toEqual([]);
    });
  }
});
