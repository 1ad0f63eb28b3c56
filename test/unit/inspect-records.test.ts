import { afterEach, describe, expect, it } from 'vitest';
import { assign, createActor, createMachine, setup } from 'xstate';
import { addRecordSink, inspector, type TransitionRecord } from '../../src/inspect.js';

const removers: (() => void)[] = [];
afterEach(() => {
  for (const remove of removers.splice(0)) remove();
});

/** Records this process makes, for every area. */
function collect(): TransitionRecord[] {
  const records: TransitionRecord[] = [];
  removers.push(addRecordSink({ wants: () => true, record: (record) => records.push(record) }));
  return records;
}

const attempt = setup({
  types: { context: {} as { error: unknown }, events: {} as { type: 'fail'; error: unknown } | { type: 'go' } },
}).createMachine({
  id: 'attempt',
  context: { error: undefined },
  initial: 'working',
  states: {
    working: { on: { go: 'still', fail: { target: 'failed', actions: assign({ error: ({ event }) => event.error }) } } },
    still: { on: { fail: { target: 'failed', actions: assign({ error: ({ event }) => event.error }) } } },
    failed: { type: 'final' },
  },
});

describe('inspection records', () => {
  it('inspects an actor for a sink that wants its area, and not for one that does not', () => {
    removers.push(addRecordSink({ wants: (area) => area === 'mailbox', record: () => {} }));
    expect(inspector('mailbox', 'svc')).toBeTypeOf('function');
    expect(inspector('client', 'svc')).toBeUndefined();
  });

  it('gives each transition its from, to and event, and a failed state what its error says', () => {
    const records = collect();
    const actor = createActor(attempt, { inspect: inspector('client', 'svc') });
    actor.start();
    actor.send({ type: 'go' });
    const error = Object.assign(new Error('the factory threw'), { code: 'ERR_FACTORY' });
    actor.send({ type: 'fail', error });
    const transitions = records.filter((record) => record.type === 'transition');
    expect(transitions.map((record) => [record.from, record.to, record.event])).toEqual([
      [undefined, 'working', 'xstate.init'],
      ['working', 'still', 'go'],
      ['still', 'failed', 'fail'],
    ]);
    expect(transitions.slice(0, 2).every((record) => record.error === undefined)).toBe(true);
    expect(transitions[2]!.error).toEqual({ code: 'ERR_FACTORY', message: 'the factory threw' });
    expect(records.map((record) => record.type)).toEqual(['spawn', 'transition', 'transition', 'transition', 'stop']);
  });

  it('says what a failure that is not an Error is, briefly', () => {
    const records = collect();
    const actor = createActor(attempt, { inspect: inspector('client', 'svc') });
    actor.start();
    actor.send({ type: 'fail', error: 'x'.repeat(2000) });
    expect(records.find((record) => record.to === 'failed')!.error).toEqual({ message: 'x'.repeat(500) });
  });

  it('keeps a faulty sink from breaking the actor it watches', () => {
    removers.push(
      addRecordSink({
        wants: () => true,
        record: () => {
          throw new Error('sink fault');
        },
      }),
    );
    const records = collect();
    const actor = createActor(createMachine({ initial: 'a', states: { a: { on: { go: 'b' } }, b: {} } }), { inspect: inspector('supervisor', 'svc') });
    actor.start();
    actor.send({ type: 'go' });
    expect(actor.getSnapshot().value).toBe('b');
    expect(records.filter((record) => record.type === 'transition').map((record) => record.to)).toEqual(['a', 'b']);
  });
});
