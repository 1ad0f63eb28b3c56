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

  it.each([
    ['', 'a string of 0 characters'],
    ['x'.repeat(257), 'a string of 257 characters'],
    [5, '`5` (number)'],
    [undefined, '`undefined` (undefined)'],
  ])('refuses topic %p with a TypeError that says what a topic is, in a daemon or not', (topic, shown) => {
    const events = publisher();
    const message = `Expected \`topic\` to be a string of 1 to 256 characters, got ${shown}`;
    expect(() => events.publish(topic as string, 1)).toThrow(new TypeError(message));
    expect(() => events.hasSubscribers(topic as string)).toThrow(new TypeError(message));
    const seen: unknown[] = [];
    registerEventHub({ publish: (t, data) => seen.push([t, data]), hasSubscribers: () => true });
    expect(() => events.publish(topic as string, 1)).toThrow(new TypeError(message));
    expect(() => events.hasSubscribers(topic as string)).toThrow(new TypeError(message));
    expect(seen).toEqual([]);
  });

  it('takes a topic of 1 and of 256 characters, and asks the hub whether it has subscribers', () => {
    const events = publisher();
    const seen: unknown[] = [];
    registerEventHub({ publish: (topic, data) => seen.push([topic, data]), hasSubscribers: (topic) => topic.length === 1 });
    events.publish('x', 1);
    events.publish('y'.repeat(256), 2);
    expect(seen).toEqual([
      ['x', 1],
      ['y'.repeat(256), 2],
    ]);
    expect(events.hasSubscribers('x')).toBe(true);
    expect(events.hasSubscribers('y'.repeat(256))).toBe(false);
  });

  it("refuses the runtime's own topics, so an object cannot pass for the daemon's inspection", () => {
    const events = publisher();
    const seen: unknown[] = [];
    registerEventHub({ publish: (topic, data) => seen.push([topic, data]), hasSubscribers: () => true });
    expect(() => events.publish('loopback-singleton:inspect', { kind: 'record' })).toThrow(
      new TypeError(
        'The topic "loopback-singleton:inspect" is reserved: topics starting with "loopback-singleton:" carry the runtime\'s own inspection; publish under another name',
      ),
    );
    expect(() => events.publish('loopback-singleton:anything', 1)).toThrow(TypeError);
    events.publish('loopback-singleton', 1);
    expect(seen).toEqual([['loopback-singleton', 1]]);
  });
});
