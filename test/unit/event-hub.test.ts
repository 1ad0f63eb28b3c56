import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { EventHub, type EventSubscriber } from '../../src/daemon/events.js';
import { decodeValue, HEADER_BYTES } from '../../src/wire/codec.js';

/** A connection that records the events written to it; `pendingBytes` is what a test says its socket holds. */
function subscriber(): EventSubscriber & { events: unknown[]; frames: Buffer[]; pendingBytes: number; isClosed: boolean } {
  const fake = {
    events: [] as unknown[],
    frames: [] as Buffer[],
    pendingBytes: 0,
    isClosed: false,
    channel: {
      get isClosed() {
        return fake.isClosed;
      },
      writer: {
        write(frame: Buffer) {
          fake.frames.push(frame);
          fake.events.push(decodeValue(frame.subarray(HEADER_BYTES)));
        },
        get pendingBytes() {
          return fake.pendingBytes;
        },
      },
    },
  };
  return fake;
}

describe('EventHub', () => {
  it('writes each event to the connections subscribed to its topic, one frame shared by all', () => {
    const hub = new EventHub(1 << 20, 1000);
    const a = subscriber();
    const b = subscriber();
    const c = subscriber();
    expect(hub.subscribe(a, 1, 'x')).toBe(0);
    hub.subscribe(b, 1, 'x');
    hub.subscribe(c, 1, 'y');
    hub.publish('x', 1);
    hub.publish('y', 2);
    hub.publish('z', 3);
    expect(a.events).toEqual([{ t: 'event', topic: 'x', d: 1 }]);
    expect(b.events).toEqual([{ t: 'event', topic: 'x', d: 1 }]);
    expect(a.frames[0]).toBe(b.frames[0]);
    expect(c.events).toEqual([{ t: 'event', topic: 'y', d: 2 }]);
  });

  it('one connection subscribed twice to a topic gets each event once', () => {
    const hub = new EventHub(1 << 20, 1000);
    const a = subscriber();
    hub.subscribe(a, 1, 'x');
    hub.subscribe(a, 2, 'x');
    hub.publish('x', 'once');
    expect(a.events).toHaveLength(1);
    hub.unsubscribe(a, 1);
    hub.publish('x', 'still');
    expect(a.events).toHaveLength(2);
    hub.unsubscribe(a, 2);
    expect(hub.hasSubscribers('x')).toBe(false);
    hub.publish('x', 'gone');
    expect(a.events).toHaveLength(2);
  });

  it('drops the events of a connection over its backlog, and tells the count with the next one it gets', () => {
    const hub = new EventHub(1 << 20, 1000);
    const slow = subscriber();
    const fast = subscriber();
    hub.subscribe(slow, 1, 'x');
    hub.subscribe(fast, 1, 'x');
    slow.pendingBytes = 1001;
    for (let i = 1; i <= 5; i++) hub.publish('x', i);
    expect(slow.events).toEqual([]);
    expect(fast.events).toHaveLength(5);
    expect(hub.dropped).toBe(5);
    // At the bound exactly it is written again.
    slow.pendingBytes = 1000;
    hub.publish('x', 6);
    hub.publish('x', 7);
    expect(slow.events).toEqual([
      { t: 'event', topic: 'x', d: 6, dropped: 5 },
      { t: 'event', topic: 'x', d: 7 },
    ]);
  });

  it('a new subscription to a lagging topic takes the untold count for the older ones, not for itself', () => {
    const hub = new EventHub(1 << 20, 1000);
    const a = subscriber();
    hub.subscribe(a, 1, 'x');
    a.pendingBytes = 5000;
    hub.publish('x', 1);
    hub.publish('x', 2);
    a.pendingBytes = 0;
    expect(hub.subscribe(a, 2, 'x')).toBe(2);
    hub.publish('x', 3);
    expect(a.events).toEqual([{ t: 'event', topic: 'x', d: 3 }]);
  });

  it('forgets every subscription of a closed connection, and skips one closed but not yet removed', () => {
    const hub = new EventHub(1 << 20, 1000);
    const a = subscriber();
    hub.subscribe(a, 1, 'x');
    hub.subscribe(a, 2, 'y');
    a.isClosed = true;
    hub.publish('x', 1);
    expect(a.events).toEqual([]);
    hub.remove(a);
    expect(hub.hasSubscribers('x')).toBe(false);
    expect(hub.hasSubscribers('y')).toBe(false);
    hub.unsubscribe(a, 1);
  });

  it('a payload that cannot be sent throws ERR_UNENCODABLE naming its place, only when someone subscribes', () => {
    const hub = new EventHub(1 << 20, 1000);
    hub.publish('x', { bad: Symbol('s') });
    hub.subscribe(subscriber(), 1, 'x');
    let thrown: unknown;
    try {
      hub.publish('x', { bad: Symbol('s') });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ProtocolError);
    expect((thrown as ProtocolError).code).toBe('ERR_UNENCODABLE');
    expect((thrown as ProtocolError).message).toContain('data.bad');
  });

  it('a payload over maxFrameBytes throws ERR_FRAME_TOO_LARGE', () => {
    const hub = new EventHub(1024, 1000);
    hub.subscribe(subscriber(), 1, 'x');
    expect(() => hub.publish('x', 'x'.repeat(2000))).toThrow(expect.objectContaining({ code: 'ERR_FRAME_TOO_LARGE' }));
  });
});
