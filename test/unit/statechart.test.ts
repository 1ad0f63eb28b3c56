/**
 * flattenMachine (src/diagrams/statechart.ts) on a machine made for it: history states, every
 * kind of delay, guard combinators (and, or, not, stateIn, nested), inline and object guards,
 * and state keys that cannot be ids as they are (repeated, reserved, not plain). The project's
 * own charts are test/diagrams.test.ts's; they use few of these.
 */
import { describe, expect, it } from 'vitest';
import { and, createMachine, not, or, stateIn } from 'xstate';
import { type Chart, flattenMachine } from '../../src/diagrams/statechart.js';

const machine = createMachine(
  {
    id: 'm',
    initial: 'a',
    states: {
      a: {
        initial: 'inner',
        states: { inner: {}, hist: { type: 'history' }, deep: { type: 'history', history: 'deep' } },
        after: { 100: 'b', namedDelay: 'c', inlineDelay: { target: 'd' } },
        on: {
          GO: [
            { target: 'b', guard: and(['isA', 'isB']) },
            { target: 'c', guard: or(['isA', not('isB')]) },
            { target: 'd', guard: not(and(['isA', or(['isB', 'isC'])])) },
            { target: 'state', guard: stateIn('a') },
            { target: 'state', guard: stateIn({ a: 'inner' }) },
            { target: 'b', guard: () => true },
            { target: 'c', guard: { type: 'withParams', params: { n: 1 } } },
            {
              target: 'd',
              guard: function namedCheck() {
                return true;
              },
            },
            { target: 'b', guard: not('isA') },
          ],
          STAY: {},
          TWO: { target: ['#m.p.x.x1', '#m.p.y.y2'] },
        },
      },
      b: { states: { inner: {} }, initial: 'inner', always: { target: 'c', guard: 'isA' } },
      c: { on: { 'done.like': 'd' } },
      d: { type: 'final' },
      state: {},
      '1bad-key': {},
      p: {
        type: 'parallel',
        states: {
          x: { initial: 'x1', states: { x1: {}, x2: {} } },
          y: { initial: 'y1', states: { y1: {}, y2: {} } },
        },
      },
      node_start: {},
      // Its key is the path-based id a.inner would get: a.inner is numbered.
      a_inner: {},
    },
  },
  {
    guards: { isA: () => true, isB: () => true, isC: () => true, withParams: () => true },
    delays: {
      namedDelay: function namedDelay() {
        return 5;
      },
      inlineDelay: () => 7,
    },
  },
);

let chart: Chart;

function labels(from: string): string[] {
  return chart.transitions.filter((transition) => transition.from.id === from).map((transition) => `${transition.label} -> ${transition.to.id}`);
}

describe('flattenMachine', () => {
  it('gives each state a plain unique id: its key when safe and unique (never a history state’s), else its path', () => {
    chart = flattenMachine(machine);
    expect(chart.states.map((state) => [state.key, state.id, state.kind])).toEqual([
      ['m', 'm', 'compound'],
      ['a', 'a', 'compound'],
      ['inner', 'a_inner_2', 'atomic'],
      ['hist', 'a_hist', 'history'],
      ['deep', 'a_deep', 'history'],
      ['b', 'b', 'compound'],
      ['inner', 'b_inner', 'atomic'],
      ['c', 'c', 'atomic'],
      ['d', 'd', 'final'],
      ['state', 's_state_', 'atomic'],
      ['1bad-key', 's_1bad_key_', 'atomic'],
      ['p', 'p', 'parallel'],
      ['x', 'x', 'compound'],
      ['x1', 'x1', 'atomic'],
      ['x2', 'x2', 'atomic'],
      ['y', 'y', 'compound'],
      ['y1', 'y1', 'atomic'],
      ['y2', 'y2', 'atomic'],
      ['node_start', 's_node_start_', 'atomic'],
      ['a_inner', 'a_inner', 'atomic'],
    ]);
    expect(chart.states.map((state) => state.historyLabel).filter(Boolean)).toEqual(['H', 'H*']);
    expect(chart.root.initial.map((state) => state.id)).toEqual(['a']);
    expect(chart.states.find((state) => state.id === 'p')!.initial).toEqual([]);
    expect(chart.states.find((state) => state.id === 'x')!.initial.map((state) => state.id)).toEqual(['x1']);
  });

  it('words delays by number, by name or as inline; guards by name, by combinator, nested in parentheses', () => {
    chart = flattenMachine(machine);
    expect(labels('a')).toEqual([
      'GO [isA && isB] -> b',
      'GO [isA || !isB] -> c',
      'GO [!(isA && (isB || isC))] -> d',
      'GO [in a] -> s_state_',
      'GO [in {"a":"inner"}] -> s_state_',
      'GO [inline] -> b',
      'GO [withParams] -> c',
      'GO [namedCheck] -> d',
      'GO [!isA] -> b',
      'STAY -> a',
      'TWO -> x1',
      'TWO -> y2',
      'after 100ms -> b',
      'after namedDelay -> c',
      'after inlineDelay -> d',
    ]);
    const stay = chart.transitions.find((transition) => transition.event === 'STAY')!;
    expect([stay.targetless, stay.guard, stay.to.id]).toEqual([true, '', 'a']);
    expect(chart.transitions.find((transition) => transition.event === 'TWO')!.targetless).toBe(false);
    expect(labels('b')).toEqual(['[isA] -> c']);
    expect(chart.transitions.find((transition) => transition.from.id === 'b')!.event).toBe('');
    expect(labels('c')).toEqual(['done.like -> d']);
  });
});
