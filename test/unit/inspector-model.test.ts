import { describe, expect, it } from 'vitest';
import {
  chartOf,
  formatStateValue,
  type InspectRecord,
  InspectorStore,
  isInspectRecord,
  MAX_ACTORS,
  markOf,
  statePaths,
  TIMELINE_ROWS,
} from '../../src/inspector/model.js';

let clock = 1_000;
function record(overrides: Partial<InspectRecord> = {}): InspectRecord {
  return { ts: clock++, pid: 10, area: 'client', name: 'svc', actor: 'x:1', type: 'transition', from: 'discovering', to: 'connecting', event: 'e', ...overrides };
}

describe('state values', () => {
  it('lists every state a value is in, parents first, as dotted paths', () => {
    expect(statePaths('idle')).toEqual(['idle']);
    expect(statePaths({ serving: 'busy' })).toEqual(['serving', 'serving.busy']);
    expect(statePaths({ locked: { spawning: 'waiting' } })).toEqual(['locked', 'locked.spawning', 'locked.spawning.waiting']);
    expect(statePaths({ a: 'x', b: { c: 'y' } })).toEqual(['a', 'a.x', 'b', 'b.c', 'b.c.y']);
    expect(statePaths(undefined)).toEqual([]);
    expect(statePaths(42)).toEqual([]);
  });

  it('prints a value as its leaf, or its regions in braces', () => {
    expect(formatStateValue({ serving: 'idle' })).toBe('serving.idle');
    expect(formatStateValue({ a: 'x', b: 'y' })).toBe('{a.x, b.y}');
    expect(formatStateValue('stopped')).toBe('stopped');
    expect(formatStateValue(undefined)).toBe('');
  });
});

describe('charts and marks', () => {
  it('draws a handshake on the daemon side only for a daemon pid', () => {
    const daemons = new Set([7]);
    expect(chartOf({ area: 'handshake', pid: 7 }, daemons)).toBe('daemon-handshake');
    expect(chartOf({ area: 'handshake', pid: 8 }, daemons)).toBe('client-handshake');
    expect(chartOf({ area: 'mailbox', pid: 8 }, daemons)).toBe('mailbox');
  });

  it('marks a daemon boot, a spawn lock won and a failure, and nothing else', () => {
    expect(markOf(record({ area: 'daemon', type: 'spawn' }))).toBe('boot');
    expect(markOf(record({ area: 'client', type: 'spawn' }))).toBeUndefined();
    expect(markOf(record({ from: 'locking', to: { locked: 'rechecking' } }))).toBe('lock-won');
    // Moving inside `locked` is not winning the lock again.
    expect(markOf(record({ from: { locked: 'rechecking' }, to: { locked: 'spawning' } }))).toBeUndefined();
    expect(markOf(record({ area: 'daemon', from: 'locking', to: { locked: 'x' } }))).toBeUndefined();
    expect(markOf(record({ to: 'failed' }))).toBe('failed');
    expect(markOf(record({ to: 'connecting' }))).toBeUndefined();
    expect(markOf(record({ type: 'stop', to: 'failed' }))).toBeUndefined();
  });

  it('takes only what has the shape of a record', () => {
    expect(isInspectRecord(record())).toBe(true);
    expect(isInspectRecord({ ...record(), area: 'kitchen' })).toBe(false);
    expect(isInspectRecord({ ...record(), type: 'jump' })).toBe(false);
    expect(isInspectRecord({ ...record(), pid: '10' })).toBe(false);
    expect(isInspectRecord({ ...record(), ts: undefined })).toBe(false);
    expect(isInspectRecord(null)).toBe(false);
  });
});

describe('InspectorStore', () => {
  it("moves an actor to each record's state, forgets a client actor that stops, keeps a daemon's final state", () => {
    const store = new InspectorStore();
    store.apply(record({ type: 'spawn' }));
    store.apply(record({ from: undefined, to: 'discovering' }));
    store.apply(record({ from: 'discovering', to: 'connecting' }));
    expect(store.actors()).toMatchObject([{ key: '10:x:1', chart: 'client', state: 'connecting', paths: ['connecting'] }]);
    store.apply(record({ type: 'stop' }));
    expect(store.actors()).toEqual([]);

    store.apply(record({ pid: 20, area: 'daemon', actor: 'x:0', from: { draining: 'drained' }, to: 'stopped' }));
    store.apply(record({ pid: 20, area: 'daemon', actor: 'x:0', type: 'stop' }));
    expect(store.actors()).toMatchObject([{ key: '20:x:0', chart: 'daemon', state: 'stopped' }]);
    expect(store.daemonPids.has(20)).toBe(true);
    store.forgetProcess(20);
    expect(store.actors()).toEqual([]);
    expect(store.size).toBe(6);
  });

  it('applies a record once, and never moves an actor back to an older state', () => {
    const store = new InspectorStore();
    const late = record({ to: 'discovering' });
    const newer = record({ from: 'discovering', to: 'connecting' });
    expect(store.apply(newer)).toBeDefined();
    expect(store.apply(newer)).toBeUndefined();
    expect(store.apply(late)).toBeDefined();
    expect(store.actors()[0]!.state).toBe('connecting');
    expect(store.size).toBe(2);
  });

  it('keeps the newest rows and actors within its bounds', () => {
    const store = new InspectorStore();
    for (let i = 0; i < TIMELINE_ROWS + 5; i++) store.apply(record({ actor: `x:${i % (MAX_ACTORS + 3)}`, to: `s${i}` }));
    expect(store.size).toBe(TIMELINE_ROWS);
    const rows = store.rows();
    expect(rows[0]!.to).toBe('s5');
    expect(rows.at(-1)!.to).toBe(`s${TIMELINE_ROWS + 4}`);
    expect(rows.every((row, i) => i === 0 || row.seq > rows[i - 1]!.seq)).toBe(true);
    expect(store.actors()).toHaveLength(MAX_ACTORS);
  });

  it('hands out each change once as a delta, which another store applies to the same view', () => {
    const server = new InspectorStore();
    server.apply(record({ to: 'discovering' }));
    server.updateSingleton('svc', { status: 'alive', pid: 30 }, 5);
    server.addCalls('svc', [{ ts: 1, method: 'inc', id: 1, outcome: 'ok', queuedMs: 0, runMs: 1 }], 3, 6);
    const page = new InspectorStore(false);
    page.applyDelta(server.snapshot());
    expect(server.takeDelta()).toMatchObject({ rows: [{ to: 'discovering' }], singletons: [{ name: 'svc', callsOmitted: 3 }] });
    expect(server.takeDelta()).toBeUndefined();

    server.apply(record({ from: 'discovering', to: 'connecting' }));
    server.apply(record({ type: 'stop' }));
    const delta = server.takeDelta()!;
    expect(delta.gone).toEqual(['10:x:1']);
    page.applyDelta(delta);
    expect(page.rows().map((row) => row.seq)).toEqual(server.rows().map((row) => row.seq));
    expect(page.actors()).toEqual(server.actors());
    expect(page.singleton('svc')).toEqual(server.singleton('svc'));
    expect(page.daemonPids.has(30)).toBe(true);
    // The page's store makes no deltas of its own.
    expect(page.takeDelta()).toBeUndefined();
  });

  it('merges what it learns of a singleton, and keeps only its latest call records', () => {
    const store = new InspectorStore();
    store.updateSingleton('svc', { status: 'alive', pid: 1, queued: 2 }, 1);
    store.updateSingleton('svc', { queued: 0 }, 2);
    expect(store.singleton('svc')).toMatchObject({ status: 'alive', pid: 1, queued: 0, seenAt: 2 });
    const calls = Array.from({ length: 60 }, (_, id) => ({ ts: id, method: 'inc', id, outcome: 'ok', queuedMs: 0, runMs: 0 }));
    store.addCalls('svc', calls, 0, 3);
    expect(store.singleton('svc')!.calls!.map((call) => call.id)).toEqual(calls.slice(10).map((call) => call.id));
  });
});
