/**
 * Events with real processes: the hosted object (test/fixtures/feed.mjs) publishes, subscriber
 * processes (test/fixtures/subscriber.mjs) take the events; a stopped subscriber (SIGSTOP)
 * loses events, counted, while the object and the other subscribers go on; a subscription
 * ends with ERR_DAEMON_LOST when its daemon is killed, and subscribing again reaches the
 * restarted daemon.
 */
import { describe, expect, it } from 'vitest';
import { closeRemote, remoteEvents, type Remote, type Subscription } from '../../dist/src/index.js';
import { freshRoot, isAlive } from '../support/daemon.js';
import { service } from '../support/clients.js';
import { FEED, startSubscriber, type Subscriber, type SubscriberResult } from '../support/subscribers.js';
import { sleep, until } from '../support/wait.js';

interface Feed {
  publish(topic: string, count: number, padBytes?: number): number;
  burst(topic: string, count: number, padBytes: number, every: number): Promise<number>;
  end(topic: string): number;
  raw(topic: string, data: unknown): void;
  unencodable(topic: string): void;
  hasSubscribers(topic: string): boolean;
  pid(): number;
}

type FeedEvents = { feed: { seq: number; pad?: string; end?: true }; other: string };

/**
 * Publishes end markers until every subscriber has exited: an end marker that finds a
 * subscriber still lagging is dropped (and counted), like any event.
 */
async function endAll(feed: Remote<Feed>, subscribers: readonly Subscriber[]): Promise<SubscriberResult[]> {
  for (let round = 0; round < 100 && subscribers.some((s) => !s.exited()); round++) {
    await feed.end('feed');
    await Promise.race([Promise.all(subscribers.map((s) => s.result)), sleep(200)]);
  }
  return Promise.all(subscribers.map((s) => s.result));
}

/** Every event a subscriber took came in publish order, and each event published is either taken or counted as dropped. */
function expectAccounted(result: SubscriberResult): void {
  expect(result.error).toBeUndefined();
  for (let i = 1; i < result.seqs.length; i++) expect(result.seqs[i]).toBeGreaterThan(result.seqs[i - 1]!);
  expect(result.seqs.length + result.dropped).toBe(result.seqs.at(-1));
}

describe('events', () => {
  it('reach three subscriber processes in publish order, none lost', async () => {
    const runtimeDir = freshRoot();
    const svc = service<Feed>({ runtimeDir }, FEED, 'feed');
    await using feed = await svc.proxy();
    await feed.pid();
    const subscribers = [0, 1, 2].map(() => startSubscriber({ runtimeDir, name: 'feed', topic: 'feed' }));
    await Promise.all(subscribers.map((s) => s.subscribed));
    // Published in three calls, with events on another topic between them that nobody takes.
    expect(await feed.publish('feed', 100)).toBe(100);
    await feed.raw('other', 'ignored');
    expect(await feed.publish('feed', 50)).toBe(150);
    const results = await endAll(feed, subscribers);
    const pids = new Set(results.map((r) => r.pid));
    expect(pids.size).toBe(3);
    for (const result of results) {
      expect(result.error).toBeUndefined();
      expect(result.dropped).toBe(0);
      expect(result.seqs).toEqual(Array.from({ length: 151 }, (_, i) => i + 1));
    }
    // They unsubscribed as they left: nobody subscribes now.
    await until(() => subscribers.every((s) => s.exited()), 'subscribers exited');
    expect(await feed.hasSubscribers('feed')).toBe(false);
  });

  it('a stopped subscriber loses events, counted, while the object and a running subscriber go on', async () => {
    const runtimeDir = freshRoot();
    const svc = service<Feed>({ runtimeDir }, FEED, 'feed');
    await using feed = await svc.proxy();
    await feed.pid();
    const running = startSubscriber({ runtimeDir, name: 'feed', topic: 'feed' });
    const stopped = startSubscriber({ runtimeDir, name: 'feed', topic: 'feed' });
    await Promise.all([running.subscribed, stopped.subscribed]);
    process.kill(stopped.pid, 'SIGSTOP');
    try {
      // 32 MiB of events: far more than the socket buffers of a process that does not read
      // plus the daemon's bound for it. The object publishes them all while it is stopped.
      expect(await feed.burst('feed', 4096, 8192, 64)).toBe(4096);
      expect((await svc.ping()).callsServed).toBeGreaterThanOrEqual(2);
    } finally {
      process.kill(stopped.pid, 'SIGCONT');
    }
    const [fast, slow] = await endAll(feed, [running, stopped]);
    expectAccounted(fast!);
    expectAccounted(slow!);
    // The daemon did not keep what the stopped subscriber could not take.
    expect(slow!.dropped).toBeGreaterThan(0);
    expect(slow!.seqs.length).toBeGreaterThan(0);
  });

  it('a subscription ends with ERR_DAEMON_LOST when its daemon dies; subscribing again reaches the restarted daemon', async () => {
    const svc = service<Feed>({}, FEED, 'feed');
    await using feed = await svc.proxy();
    const events = remoteEvents<FeedEvents>(feed);
    const first = await events.subscribe('feed');
    await feed.publish('feed', 3);
    const seen: number[] = [];
    for (let i = 0; i < 3; i++) seen.push(((await first.next()).value as FeedEvents['feed']).seq);
    expect(seen).toEqual([1, 2, 3]);
    const lost = await feed.pid();
    process.kill(lost, 'SIGKILL');
    await until(() => !isAlive(lost), 'daemon killed');
    const ending = await first.next().then(
      () => undefined,
      (error: { code?: string }) => error.code,
    );
    expect(ending).toBe('ERR_DAEMON_LOST');
    expect((await first.next()).done).toBe(true);
    // The subscription told this process of the loss: the next subscribe restarts the daemon and goes to the new object.
    await using second = await events.subscribe('feed');
    const now = await feed.pid();
    expect(now).not.toBe(lost);
    expect(await feed.publish('feed', 2)).toBe(2);
    const after = [(await second.next()).value?.seq, (await second.next()).value?.seq];
    expect(after).toEqual([1, 2]);
  });

  it('unsubscribing stops the events; a topic nobody subscribes to costs nothing; a payload that cannot cross fails the publishing call', async () => {
    const svc = service<Feed>({}, FEED, 'feed');
    const feed = await svc.proxy();
    const events = remoteEvents<FeedEvents>(feed);
    // Nobody subscribes: even an unencodable payload is never encoded.
    await feed.unencodable('feed');
    const sub: Subscription<FeedEvents['feed']> = await events.subscribe('feed');
    const other = await events.subscribe('other');
    expect(await feed.hasSubscribers('feed')).toBe(true);
    await expect(feed.unencodable('feed')).rejects.toMatchObject({ code: 'ERR_REMOTE', remoteCode: 'ERR_UNENCODABLE' });
    await feed.raw('other', 'hello');
    expect(await other.next()).toEqual({ value: 'hello', done: false });
    // A payload crosses as a result does: a Map stays a Map.
    await feed.raw('other', new Map([[1, 'one']]));
    expect((await other.next()).value).toEqual(new Map([[1, 'one']]));
    await feed.publish('feed', 1);
    await sub.unsubscribe();
    expect(await feed.hasSubscribers('feed')).toBe(false);
    await feed.publish('feed', 5);
    // Unsubscribed: done at once, the event not yet taken discarded, nothing after it delivered.
    expect((await sub.next()).done).toBe(true);
    // Closing the proxy ends its other subscriptions quietly.
    await closeRemote(feed);
    expect((await other.next()).done).toBe(true);
    await expect(events.subscribe('feed')).rejects.toMatchObject({ code: 'ERR_PROXY_CLOSED' });
    await expect(events.subscribe('' as 'feed')).rejects.toThrow(TypeError);
  });

  it('a consumer that lags loses the events its buffer cannot hold, counted with the next one it takes', async () => {
    const svc = service<Feed>({}, FEED, 'feed');
    await using feed = await svc.proxy();
    const sub = await remoteEvents<FeedEvents>(feed).subscribe('feed', { bufferSize: 10 });
    // Nobody takes events while 30 and an end marker arrive (each reply comes behind its events).
    expect(await feed.publish('feed', 30)).toBe(30);
    expect(await feed.end('feed')).toBe(31);
    const seqs: number[] = [];
    for (let i = 0; i < 10; i++) seqs.push((await sub.next()).value!.seq);
    expect(seqs).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(sub.dropped).toBe(0);
    expect(await feed.end('feed')).toBe(32);
    // Events 11 to 31 found the buffer full: the next event taken brings their count.
    expect((await sub.next()).value).toEqual({ seq: 32, end: true });
    expect(sub.dropped).toBe(21);
    await sub.unsubscribe();
  });
});
