/**
 * Streams, events and supervision through the public API against a daemon served in this
 * process (test/support/in-process.ts): src/client/stream*.ts, subscription.ts,
 * event-router.ts, supervised.ts and src/daemon/stream*.ts, events.ts over real sockets. The
 * real-process versions (credit under load, several processes) are test/integration/.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { remoteEvents } from '../../src/client/events.js';
import { closeRemote, withCallOptions } from '../../src/client/proxy.js';
import { localSingleton } from '../../src/client/service.js';
import type { Subscription } from '../../src/client/subscription.js';
import type { LocalSingletonOptions } from '../../src/options.js';
import { daemons, makeRoot, removeRoot, stopInProcessDaemons } from '../support/in-process.js';

vi.mock('../../src/client/daemon-process.js', async (load) => ({
  ...(await load<typeof import('../../src/client/daemon-process.js')>()),
  spawnDaemonProcess: (await import('../support/in-process.js')).spawnInProcess,
}));

const STREAMS = new URL('../fixtures/inproc/streams.ts', import.meta.url).href;
const EVENTS = new URL('../fixtures/inproc/feed.ts', import.meta.url).href;

interface Stats {
  finallies: number;
  overlaps: number;
  log: string;
}

interface Streams {
  count(n: number, size?: number): AsyncGenerator<number>;
  waitForFire(): AsyncGenerator<string>;
  fire(value: string): boolean;
  fails(): AsyncGenerator<number>;
  unsendable(): AsyncGenerator<number>;
  letters(): AsyncIterable<string>;
  stats(): Stats;
  ping(): string;
}

interface Feed {
  publish(topic: string, count: number, padBytes?: number): number;
  raw(topic: string, data: unknown): void;
  unencodable(topic: string): void;
  hasSubscribers(topic: string): boolean;
}

type FeedEvents = { feed: { seq: number; pad?: string; end?: true }; other: string };

let root: string;
beforeEach(() => {
  root = makeRoot('lbs-streams-');
});
afterEach(async () => {
  await stopInProcessDaemons();
  removeRoot(root);
});

function streams(options: LocalSingletonOptions = {}) {
  return localSingleton<Streams>('streams', `${STREAMS}:Feed`, { runtimeDir: root, ...options });
}

async function errorOf(iterate: () => Promise<void>): Promise<unknown> {
  return iterate().then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('streams from a daemon served in this process', () => {
  it('`break` after 3 items ends the generator on the daemon (its finally runs) before the next call', async () => {
    const proxy = await streams().proxy();
    const seen: number[] = [];
    for await (const item of proxy.count(1_000_000)) {
      seen.push(item);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual([0, 1, 2]);
    expect((await proxy.stats()).finallies).toBe(1);
    await closeRemote(proxy);
  });

  it('a generator waiting outside does not block calls; the call that fires it lets it go on', async () => {
    const svc = streams();
    const streamer = await svc.proxy();
    const caller = withCallOptions(await svc.proxy(), { timeoutMs: 15_000 });
    const stream = streamer.waitForFire()[Symbol.asyncIterator]();
    expect(await stream.next()).toEqual({ done: false, value: 'ready' });
    expect(await caller.ping()).toBe('pong');
    expect(await caller.fire('go')).toBe(true);
    expect(await stream.next()).toEqual({ done: false, value: 'go' });
    expect(await stream.next()).toEqual({ done: true, value: undefined });
    expect((await caller.stats()).finallies).toBe(1);
    await closeRemote(streamer);
    await closeRemote(caller);
  });

  it('a throwing generator ends its stream with a RemoteError after its items; an unsendable item with ERR_UNENCODABLE', async () => {
    const proxy = await streams().proxy();
    const items: number[] = [];
    const thrown = await errorOf(async () => {
      for await (const item of proxy.fails()) items.push(item);
    });
    expect(items).toEqual([1]);
    expect(thrown).toMatchObject({ code: 'ERR_REMOTE', remoteMessage: 'boom' });
    const unsent: number[] = [];
    const unencodable = await errorOf(async () => {
      for await (const item of proxy.unsendable()) unsent.push(item);
    });
    expect(unsent).toEqual([1]);
    expect(unencodable).toMatchObject({ code: 'ERR_UNENCODABLE' });
    // fails() has no finally; unsendable() has.
    expect((await proxy.stats()).finallies).toBe(1);
    await closeRemote(proxy);
  });

  it('any async iterable streams; a method that returns a value is not iterable', async () => {
    const proxy = await streams().proxy();
    const letters: string[] = [];
    for await (const letter of proxy.letters()) letters.push(letter);
    expect(letters).toEqual(['a', 'b', 'c']);
    const notStream = (proxy.ping as unknown as () => AsyncIterable<unknown>)();
    const error = await errorOf(async () => {
      for await (const _ of notStream);
    });
    expect(error).toBeInstanceOf(TypeError);
    await closeRemote(proxy);
  });

  it('an abort ends the stream with its reason and the generator with its finally', async () => {
    const proxy = await streams().proxy();
    const controller = new AbortController();
    const aborting = withCallOptions(proxy, { signal: controller.signal });
    const error = await errorOf(async () => {
      let n = 0;
      for await (const _ of aborting.count(1_000_000)) if (++n === 3) controller.abort(new Error('enough'));
    });
    expect((error as Error).message).toBe('enough');
    await vi.waitFor(async () => expect((await proxy.stats()).finallies).toBe(1), { timeout: 10_000 });
    await closeRemote(proxy);
  });

  it('a drain ends an open stream with ERR_DAEMON_DRAINING', async () => {
    const proxy = await streams().proxy();
    let received = 0;
    const error = await errorOf(async () => {
      for await (const _ of proxy.count(1_000_000)) {
        if (++received === 1) daemons()[0]!.daemon!.shutdownRequested(false);
      }
    });
    expect(error).toMatchObject({ code: 'ERR_DAEMON_DRAINING' });
    expect(received).toBeLessThan(1_000_000);
    expect(await daemons()[0]!.outcome).toBe('stopped');
    await closeRemote(proxy);
  });
});

describe('events and supervision against a daemon served in this process', () => {
  it('subscribe, receive in order, unsubscribe; an unencodable payload fails the publishing call', async () => {
    const feed = await localSingleton<Feed>('feed', `${EVENTS}:Feed`, { runtimeDir: root }).proxy();
    const events = remoteEvents<FeedEvents>(feed);
    // Nobody subscribes: even an unencodable payload is never encoded.
    await feed.unencodable('feed');
    const sub: Subscription<FeedEvents['feed']> = await events.subscribe('feed');
    const other = await events.subscribe('other');
    expect(await feed.hasSubscribers('feed')).toBe(true);
    await expect(feed.unencodable('feed')).rejects.toMatchObject({ code: 'ERR_REMOTE', remoteCode: 'ERR_UNENCODABLE' });
    await feed.raw('other', 'hello');
    expect(await other.next()).toEqual({ value: 'hello', done: false });
    await feed.raw('other', new Map([[1, 'one']]));
    expect((await other.next()).value).toEqual(new Map([[1, 'one']]));
    await feed.publish('feed', 3);
    expect((await sub.next()).value).toMatchObject({ seq: 1 });
    expect((await sub.next()).value).toMatchObject({ seq: 2 });
    expect((await sub.next()).value).toMatchObject({ seq: 3 });
    await sub.unsubscribe();
    expect(await feed.hasSubscribers('feed')).toBe(false);
    expect((await sub.next()).done).toBe(true);
    await closeRemote(feed);
    expect((await other.next()).done).toBe(true);
    await expect(events.subscribe('feed')).rejects.toMatchObject({ code: 'ERR_PROXY_CLOSED' });
    await expect(events.subscribe('' as 'feed')).rejects.toThrow(TypeError);
  });

  it('a lost daemon fails the calls in flight with ERR_DAEMON_LOST; the next call restarts it as a restart', async () => {
    const svc = localSingleton<Feed>('feed', `${EVENTS}:Feed`, { runtimeDir: root });
    const feed = await svc.proxy();
    const sub = await remoteEvents<FeedEvents>(feed).subscribe('feed');
    const first = daemons()[0]!;
    first.daemon!.shutdownRequested(true);
    expect(await first.outcome).toBe('stopped');
    const ended = await sub.next().catch((error: unknown) => error);
    expect(ended).toMatchObject({ code: 'ERR_DAEMON_LOST' });
    // The supervised proxy starts a new daemon for the next call.
    expect(await feed.publish('other', 1)).toBe(1);
    expect(daemons()).toHaveLength(2);
    expect(daemons()[1]!.config!.startReason).toBe('restart');
    await closeRemote(feed);
  });

  it('restart: false: a lost daemon stays lost; every later call fails with ERR_PROXY_CLOSED saying so', async () => {
    const feed = await localSingleton<Feed>('feed', `${EVENTS}:Feed`, { runtimeDir: root, restart: false }).proxy();
    const first = daemons()[0]!;
    first.daemon!.shutdownRequested(true);
    await first.outcome;
    for (let i = 0; i < 2; i++) {
      const error = await feed.publish('other', 1).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'ERR_PROXY_CLOSED', message: 'The daemon "feed" was lost and this proxy does not restart it (restart: false)' });
    }
    expect(daemons()).toHaveLength(1);
    await closeRemote(feed);
  });
});
