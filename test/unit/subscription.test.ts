import { describe, expect, it } from 'vitest';
import { DaemonConnectionError } from '../../src/errors.js';
import { EventRouter } from '../../src/client/event-router.js';
import { checkSubscribeOptions, DEFAULT_EVENT_BUFFER_SIZE, Subscription } from '../../src/client/subscription.js';

const lost = () => new DaemonConnectionError('lost', { code: 'ERR_DAEMON_LOST' });

describe('Subscription', () => {
  it('yields events in arrival order; one that finds the buffer full is dropped and counted with the next one taken', async () => {
    const sub = new Subscription<number>('x', 2, undefined);
    for (let i = 1; i <= 5; i++) sub.event(i, 0);
    expect(await sub.next()).toEqual({ value: 1, done: false });
    expect(await sub.next()).toEqual({ value: 2, done: false });
    expect(sub.dropped).toBe(0);
    sub.event(6, 1); // one more dropped on the daemon just before it
    expect(await sub.next()).toEqual({ value: 6, done: false });
    expect(sub.dropped).toBe(4);
  });

  it('hands an event straight to a waiting consumer', async () => {
    const sub = new Subscription<string>('x', 1, undefined);
    const next = sub.next();
    sub.event('a', 2);
    expect(await next).toEqual({ value: 'a', done: false });
    expect(sub.dropped).toBe(2);
  });

  it('a lost connection: the events received are taken first, then the error once, then done', async () => {
    const sub = new Subscription<number>('x', 10, undefined);
    sub.event(1, 0);
    sub.missed(3);
    sub.end(lost());
    expect(await sub.next()).toEqual({ value: 1, done: false });
    await expect(sub.next()).rejects.toMatchObject({ code: 'ERR_DAEMON_LOST' });
    expect(sub.dropped).toBe(3);
    expect(await sub.next()).toEqual({ value: undefined, done: true });
  });

  it('a consumer waiting when the connection is lost gets the error', async () => {
    const sub = new Subscription<number>('x', 10, undefined);
    const next = sub.next();
    sub.end(lost());
    await expect(next).rejects.toMatchObject({ code: 'ERR_DAEMON_LOST' });
  });

  it('unsubscribe: done at once, what was not taken discarded, the daemon told once', async () => {
    const sub = new Subscription<number>('x', 10, undefined);
    let released = 0;
    sub.attach(async () => {
      released++;
    });
    sub.event(1, 0);
    const waiting = [sub.unsubscribe(), sub.unsubscribe(), sub[Symbol.asyncDispose]()];
    await Promise.all(waiting);
    expect(released).toBe(1);
    expect(await sub.next()).toEqual({ value: undefined, done: true });
    sub.event(2, 0);
    expect(await sub.next()).toEqual({ value: undefined, done: true });
  });

  it('leaving a for-await loop unsubscribes', async () => {
    const sub = new Subscription<number>('x', 10, undefined);
    let released = 0;
    sub.attach(async () => {
      released++;
    });
    sub.event(1, 0);
    sub.event(2, 0);
    for await (const value of sub) if (value === 1) break;
    expect(released).toBe(1);
  });

  it('an abort ends it with the signal reason and unsubscribes; an abort before the daemon had it unsubscribes on attach', async () => {
    const controller = new AbortController();
    const sub = new Subscription<number>('x', 10, controller.signal);
    let released = 0;
    const next = sub.next();
    controller.abort(new Error('enough'));
    await expect(next).rejects.toThrow('enough');
    sub.attach(async () => {
      released++;
    });
    expect(released).toBe(1);
  });

  it('after an abort next() rejects with the reason; unsubscribe after a loss makes it done', async () => {
    const controller = new AbortController();
    const aborted = new Subscription<number>('x', 10, controller.signal);
    controller.abort(new Error('enough'));
    await expect(aborted.next()).rejects.toThrow('enough');
    const gone = new Subscription<number>('x', 10, undefined);
    gone.end(lost());
    await gone.unsubscribe();
    expect(await gone.next()).toEqual({ value: undefined, done: true });
  });

  it('a release that fails (connection gone) never rejects unsubscribe', async () => {
    const sub = new Subscription<number>('x', 10, undefined);
    sub.attach(() => Promise.reject(lost()));
    await expect(sub.unsubscribe()).resolves.toBeUndefined();
  });

  it.each([0, -1, 1.5, Number.NaN, '3'])('refuses bufferSize %p', (bufferSize) => {
    expect(() => checkSubscribeOptions({ bufferSize: bufferSize as number })).toThrow(TypeError);
  });

  it('bufferSize defaults to 1024', () => {
    expect(checkSubscribeOptions(undefined)).toBe(DEFAULT_EVENT_BUFFER_SIZE);
    expect(DEFAULT_EVENT_BUFFER_SIZE).toBe(1024);
  });
});

describe('EventRouter', () => {
  it('delivers an event to every subscription of its topic, and credits untold drops to the older ones only', async () => {
    const router = new EventRouter();
    const a = new Subscription<number>('x', 10, undefined);
    const b = new Subscription<number>('x', 10, undefined);
    const c = new Subscription<number>('y', 10, undefined);
    router.add(1, 'x', a, 0);
    router.add(2, 'y', c, 0);
    router.add(3, 'x', b, 4);
    router.deliver({ t: 'event', topic: 'x', d: 7 });
    expect(await a.next()).toEqual({ value: 7, done: false });
    expect(a.dropped).toBe(4);
    expect(await b.next()).toEqual({ value: 7, done: false });
    expect(b.dropped).toBe(0);
    expect(router.remove(1)).toBe(true);
    expect(router.remove(1)).toBe(false);
    router.deliver({ t: 'event', topic: 'x', d: 8, dropped: 1 });
    expect(await b.next()).toEqual({ value: 8, done: false });
    expect(b.dropped).toBe(1);
    expect(router.endAll(lost())).toBe(2);
    expect(router.size).toBe(0);
    await expect(c.next()).rejects.toMatchObject({ code: 'ERR_DAEMON_LOST' });
  });
});
