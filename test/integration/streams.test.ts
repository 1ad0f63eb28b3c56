/**
 * Streams on real daemons: a method that returns an async iterable gives the caller one
 * (docs/PROTOCOL.md §4a). Credit bounds what the daemon runs ahead; ending the iteration early
 * in any way ends the generator on the daemon; each step is a turn of the mailbox.
 */
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { withCallOptions, type Remote } from '../../dist/src/index.js';
import { runWorker, service } from '../support/clients.js';
import { FIXTURES } from '../support/daemon.js';
import { sleep } from '../support/wait.js';

const FEED = `${pathToFileURL(join(FIXTURES, 'streams.mjs')).href}:Feed`;

interface Stats {
  finallies: number;
  overlaps: number;
  log: string;
}

interface Feed {
  count(n: number, size?: number): AsyncGenerator<number | { i: number; pad: string }>;
  slowSteps(n: number): AsyncGenerator<number>;
  touch(): Promise<number>;
  waitForFire(): AsyncGenerator<string>;
  fire(value: string): boolean;
  fails(): AsyncGenerator<number>;
  unsendable(): AsyncGenerator<number>;
  letters(): AsyncIterable<string>;
  stats(): Stats;
  rss(): number;
  ping(): string;
}

function feed() {
  return service<Feed>({}, FEED);
}

/** Polls `stats()` until `done` holds for it; at most `tries` calls, 20 ms apart. */
async function statsWhen(proxy: Remote<Feed>, done: (stats: Stats) => boolean, tries = 250): Promise<Stats> {
  let stats = await proxy.stats();
  for (let i = 0; i < tries && !done(stats); i++) {
    await sleep(20);
    stats = await proxy.stats();
  }
  return stats;
}

describe('streams', () => {
  it('streams 100,000 items of 1 KiB to a slow consumer: nothing lost, the daemon RSS stays flat (bounded credit)', async () => {
    const svc = feed();
    await using consumer = await svc.proxy();
    await using watcher = await svc.proxy();
    // Warm up (JIT, buffers) before the baseline reading.
    let warm = 0;
    for await (const _ of consumer.count(5000, 1024)) warm++;
    expect(warm).toBe(5000);
    const baseline = await watcher.rss();
    let peak = baseline;
    let received = 0;
    let inOrder = true;
    for await (const item of consumer.count(100_000, 1024)) {
      if ((item as { i: number }).i !== received) inOrder = false;
      received++;
      // Slow: a timer every 50 items, and an RSS reading every 10,000.
      if (received % 50 === 0) await sleep(1);
      if (received % 10_000 === 0) peak = Math.max(peak, await watcher.rss());
    }
    expect(received).toBe(100_000);
    expect(inOrder).toBe(true);
    // 100,000 items of 1 KiB are ~100 MiB; the credit window is 32 of them (32 KiB).
    expect(peak - baseline).toBeLessThan(30 * 1024 * 1024);
    expect((await watcher.stats()).finallies).toBe(2);
  }, 120_000);

  it('`break` after 3 items runs the generator’s finally on the daemon before the next call', async () => {
    await using proxy = await feed().proxy();
    const seen: unknown[] = [];
    for await (const item of proxy.count(1_000_000)) {
      seen.push(item);
      if (seen.length === 3) break;
    }
    expect(seen).toEqual([0, 1, 2]);
    expect((await proxy.stats()).finallies).toBe(1);
  });

  it('calls of 2 other client processes interleave with a long stream’s steps, and nothing overlaps', async () => {
    const svc = feed();
    await using streamer = await svc.proxy();
    const runtimeDir = dirname(svc.paths.dir);
    // The stream runs until both callers are done.
    let callersDone = false;
    const consumer = (async () => {
      let n = 0;
      for await (const _ of streamer.slowSteps(1_000_000)) {
        n++;
        if (callersDone) break;
      }
      return n;
    })();
    const callers = await Promise.all(Array.from({ length: 2 }, () => runWorker({ runtimeDir, name: 'svc', factory: FEED, method: 'touch', count: 50 }))).finally(() => {
      callersDone = true;
    });
    const steps = await consumer;
    for (const caller of callers) {
      expect(caller.error).toBeUndefined();
      expect(caller.results).toHaveLength(50);
    }
    const { log, overlaps } = await streamer.stats();
    expect(log.replaceAll('s', '')).toBe('t'.repeat(100));
    expect(log.length).toBeGreaterThanOrEqual(100 + steps);
    expect(overlaps).toBe(0);
    // The callers' calls ran between the stream's first and last steps, not before or after it.
    expect(log.slice(log.indexOf('s'), log.lastIndexOf('s'))).toContain('t');
  });

  it('a generator awaiting an outside event does not block other calls', async () => {
    const svc = feed();
    await using streamer = await svc.proxy();
    await using caller = await withCallOptions(await svc.proxy(), { timeoutMs: 15_000 });
    const stream = streamer.waitForFire()[Symbol.asyncIterator]();
    expect(await stream.next()).toEqual({ done: false, value: 'ready' });
    // The generator now waits (its next step was pulled by the credit): calls still run, and
    // the one that fires the event is among them.
    expect(await caller.ping()).toBe('pong');
    expect(await caller.fire('go')).toBe(true);
    expect(await stream.next()).toEqual({ done: false, value: 'go' });
    expect(await stream.next()).toEqual({ done: true, value: undefined });
    expect((await caller.stats()).finallies).toBe(1);
  });

  it('stopping a stream whose generator waits outside wakes it: its finally runs', async () => {
    await using proxy = await feed().proxy();
    for await (const item of proxy.waitForFire()) {
      expect(item).toBe('ready');
      break;
    }
    expect((await statsWhen(proxy, (s) => s.finallies === 1)).finallies).toBe(1);
  });

  it('disposal, an abort and a closed connection each end the generator (its finally runs)', async () => {
    const svc = feed();
    await using watcher = await svc.proxy();
    {
      await using stream = watcher.count(1_000_000);
      const iterator = stream[Symbol.asyncIterator]();
      for (let i = 0; i < 3; i++) await iterator.next();
    }
    expect((await watcher.stats()).finallies).toBe(1);

    const controller = new AbortController();
    const aborting = withCallOptions(watcher, { signal: controller.signal });
    const error = await (async () => {
      let n = 0;
      for await (const _ of aborting.count(1_000_000)) if (++n === 3) controller.abort(new Error('enough'));
    })().catch((e: unknown) => e);
    expect((error as Error).message).toBe('enough');
    expect((await statsWhen(watcher, (s) => s.finallies === 2)).finallies).toBe(2);

    const other = await svc.proxy();
    const iterator = other.count(1_000_000)[Symbol.asyncIterator]();
    for (let i = 0; i < 3; i++) await iterator.next();
    await other[Symbol.asyncDispose]();
    expect((await statsWhen(watcher, (s) => s.finallies === 3)).finallies).toBe(3);
  });

  it('a generator that throws ends its stream with an error reply after its items', async () => {
    await using proxy = await feed().proxy();
    const items: unknown[] = [];
    const error = await (async () => {
      for await (const item of proxy.fails()) items.push(item);
    })().catch((e: unknown) => e);
    expect(items).toEqual([1]);
    expect(error).toMatchObject({ code: 'ERR_REMOTE', remoteMessage: 'boom' });
    expect(await proxy.ping()).toBe('pong');
  });

  it('an item that cannot cross ends the stream with ERR_UNENCODABLE and the generator’s finally', async () => {
    await using proxy = await feed().proxy();
    const items: unknown[] = [];
    const error = await (async () => {
      for await (const item of proxy.unsendable()) items.push(item);
    })().catch((e: unknown) => e);
    expect(items).toEqual([1]);
    expect(error).toMatchObject({ code: 'ERR_UNENCODABLE' });
    expect((await proxy.stats()).finallies).toBe(1);
  });

  it('any async iterable streams; a method that returns a value is not iterable', async () => {
    await using proxy = await feed().proxy();
    const letters: string[] = [];
    for await (const letter of proxy.letters()) letters.push(letter);
    expect(letters).toEqual(['a', 'b', 'c']);
    const notStream = (proxy.ping as unknown as () => AsyncIterable<unknown>)();
    const error = await (async () => {
      for await (const _ of notStream);
    })().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
  });

  it('a shutdown ends an open stream with ERR_DAEMON_DRAINING', async () => {
    const svc = feed();
    const proxy = await svc.proxy();
    let received = 0;
    const error = await (async () => {
      for await (const _ of proxy.count(1_000_000)) {
        if (++received === 1) await svc.shutdown();
      }
    })().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_DAEMON_DRAINING' });
    expect(received).toBeLessThan(1_000_000);
    await proxy[Symbol.asyncDispose]();
  });
});
