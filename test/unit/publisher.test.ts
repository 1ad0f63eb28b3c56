import { afterEach, describe, expect, it } from 'vitest';
import { EVENT_HUB, registerEventHub, type EventHubLink } from '../../src/events-link.js';
import { publisher } from '../../src/events.js';

afterEach(() => registerEventHub(undefined));

describe('publisher', () => {
  it('does nothing outside a daemon', () => {
    const events = publisher<{ changed: number }>();
    events.publish('changed', 1);
    expect(events.hasSubscribers('changed')).toBe(false);
  });

  it('reaches the hub a daemon registered, also when made before it was registered', () => {
    const events = publisher<{ changed: number }>();
    const seen: unknown[] = [];
    const hub: EventHubLink = { publish: (topic, data) => seen.push([topic, data]), hasSubscribers: (topic) => topic === 'changed' };
    registerEventHub(hub);
    expect((globalThis as Record<symbol, unknown>)[Symbol.for('loopback-singleton.events')]).toBe(hub);
    expect(EVENT_HUB).toBe(Symbol.for('loopback-singleton.events'));
    events.publish('changed', 2);
    expect(seen).toEqual([['changed', 2]]);
    expect(events.hasSubscribers('changed')).toBe(true);
  });

  it.each(['', 'x'.repeat(257), 5, undefined])('refuses topic %p with a TypeError, in a daemon or not', (topic) => {
    const events = publisher();
    expect(() => events.publish(topic as string, 1)).toThrow(TypeError);
    expect(() => events.hasSubscribers(topic as string)).toThrow(TypeError);
  });

  it("refuses the runtime's own topics, so an object cannot pass for the daemon's inspection", () => {
    const events = publisher();
    const seen: unknown[] = [];
    registerEventHub({ publish: (topic, data) => seen.push([topic, data]), hasSubscribers: () => true });
    expect(() => events.publish('loopback-singleton:inspect', { kind: 'record' })).toThrow(/reserved.*publish under another name/);
    expect(() => events.publish('loopback-singleton:anything', 1)).toThrow(TypeError);
    events.publish('loopback-singleton', 1);
    expect(seen).toEqual([['loopback-singleton', 1]]);
  });
});
