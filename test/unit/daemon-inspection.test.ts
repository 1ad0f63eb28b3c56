import { channel } from 'node:diagnostics_channel';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { EventHub, type EventSubscriber } from '../../src/daemon/events.js';
import { CALL_BATCH_MS, CALLS_PER_BATCH, DaemonInspection, HISTORY_RECORDS, type InspectMessage } from '../../src/daemon/inspection.js';
import { INSPECT_TOPIC } from '../../src/events-link.js';
import { inspector, type TransitionRecord } from '../../src/inspect.js';
import { decodeValue, HEADER_BYTES } from '../../src/wire/codec.js';

/** An observer connection: what the hub writes to it and what is sent to it directly. */
function observer(): EventSubscriber & { messages: InspectMessage[]; send(message: { d: unknown }): void } {
  const messages: InspectMessage[] = [];
  return {
    messages,
    send: (message) => messages.push(message.d as InspectMessage),
    channel: {
      isClosed: false,
      writer: { write: (frame: Buffer) => messages.push((decodeValue(frame.subarray(HEADER_BYTES)) as { d: InspectMessage }).d), pendingBytes: 0 },
    },
  };
}

let clock = 0;
function transition(overrides: Partial<TransitionRecord> = {}): TransitionRecord {
  return { ts: ++clock, pid: process.pid, area: 'daemon', name: 'svc', actor: 'x:0', type: 'transition', from: 'a', to: 'b', event: 'e', ...overrides };
}

const made: DaemonInspection[] = [];
function inspection(hub: EventHub): DaemonInspection {
  const made1 = new DaemonInspection(hub);
  made.push(made1);
  return made1;
}
afterEach(() => {
  for (const one of made.splice(0)) one.close();
  vi.useRealTimers();
});

describe('DaemonInspection', () => {
  it('gives a new observer the recent history and where each live actor stands, then each record as it comes', () => {
    const hub = new EventHub(1 << 20);
    const daemon = inspection(hub);
    daemon.record(transition({ type: 'spawn' }));
    daemon.record(transition({ from: undefined, to: { starting: 'booting' } }));
    daemon.record(transition({ actor: 'x:2', area: 'mailbox', to: 'accepting' }));
    daemon.record(transition({ actor: 'x:5', area: 'handshake', to: 'awaitingHello' }));
    daemon.record(transition({ actor: 'x:5', area: 'handshake', type: 'stop' }));
    const watcher = observer();
    hub.subscribe(watcher, 1, INSPECT_TOPIC);
    daemon.subscribed(watcher);
    const [history] = watcher.messages;
    expect(history).toMatchObject({ kind: 'history', pid: process.pid });
    if (history?.kind !== 'history') throw new Error('no history');
    expect(history.records).toHaveLength(5);
    expect(history.actors.map((actor) => [actor.actor, actor.state])).toEqual([
      ['x:0', { starting: 'booting' }],
      ['x:2', 'accepting'],
    ]);
    daemon.record(transition({ to: { serving: 'idle' } }));
    expect(watcher.messages[1]).toMatchObject({ kind: 'record', record: { to: { serving: 'idle' } } });
  });

  it('keeps a bounded history, newest last', () => {
    const daemon = inspection(new EventHub(1 << 20));
    for (let i = 0; i < HISTORY_RECORDS + 7; i++) daemon.record(transition({ to: `s${i}` }));
    const watcher = observer();
    daemon.subscribed(watcher);
    const history = watcher.messages[0] as Extract<InspectMessage, { kind: 'history' }>;
    expect(history.records).toHaveLength(HISTORY_RECORDS);
    expect(history.records[0]!.to).toBe('s7');
  });

  it('inspects handshakes (one per connect) only while an observer watches; its own charts always', () => {
    const hub = new EventHub(1 << 20);
    const daemon = inspection(hub);
    expect(daemon.wants('daemon')).toBe(true);
    expect(daemon.wants('mailbox')).toBe(true);
    expect(daemon.wants('handshake')).toBe(false);
    expect(inspector('handshake', 'svc')).toBeUndefined();
    const watcher = observer();
    hub.subscribe(watcher, 1, INSPECT_TOPIC);
    expect(daemon.wants('handshake')).toBe(true);
    expect(inspector('handshake', 'svc')).toBeTypeOf('function');
    hub.remove(watcher);
    expect(daemon.wants('handshake')).toBe(false);
  });

  it('sends per-call records in batches while watched, counting those past a batch', () => {
    vi.useFakeTimers();
    const hub = new EventHub(1 << 20);
    const daemon = inspection(hub);
    const calls = channel('loopback-singleton:daemon:call');
    expect(calls.hasSubscribers).toBe(false);
    const watcher = observer();
    hub.subscribe(watcher, 1, INSPECT_TOPIC);
    daemon.subscribed(watcher);
    expect(calls.hasSubscribers).toBe(true);
    for (let id = 0; id < CALLS_PER_BATCH + 3; id++) calls.publish({ method: 'inc', id, outcome: 'ok', queuedMs: 0, runMs: 1 });
    vi.advanceTimersByTime(CALL_BATCH_MS);
    const batch = watcher.messages.find((message) => message.kind === 'calls');
    expect(batch).toMatchObject({ kind: 'calls', omitted: 3 });
    expect((batch as Extract<InspectMessage, { kind: 'calls' }>).records.map((call) => call.id)).toEqual([...Array(CALLS_PER_BATCH).keys()]);
    // Nobody watches any more: the daemon stops building call records at the next batch.
    hub.remove(watcher);
    vi.advanceTimersByTime(CALL_BATCH_MS);
    expect(calls.hasSubscribers).toBe(false);
  });

  it('sends an observer what fits its frame cap', () => {
    const daemon = inspection(new EventHub(1 << 20));
    for (let i = 0; i < 50; i++) daemon.record(transition({ event: 'x'.repeat(200) }));
    const sent: unknown[] = [];
    let refusals = 0;
    daemon.subscribed({
      send(message) {
        const records = (message as unknown as { d: { records: unknown[] } }).d.records;
        if (records.length > 20) {
          refusals++;
          throw new Error('too large');
        }
        sent.push(records.length);
      },
    });
    expect(refusals).toBe(1);
    expect(sent).toEqual([20]);
  });
});
