import { existsSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { localSingleton } from '../../dist/src/index.js';
import { freshRoot, isAlive, waitForExit } from '../support/daemon.js';
import { COUNTER, runWorker } from '../support/clients.js';

/** Force-stops the singleton `name` under `root` when the test ends. */
function cleanupAfter(root: string, name = 'svc'): void {
  onTestFinished(() => localSingleton(name, COUNTER, { runtimeDir: root }).shutdown({ force: true }));
}

describe('many processes, one daemon', () => {
  it('24 processes cold-starting at the same instant all get answers from one daemon', { timeout: 90_000 }, async () => {
    const root = freshRoot();
    cleanupAfter(root);
    const startAt = Date.now() + 1500; // every worker waits for this moment, then asks at once
    // A generous start budget: 24 Node processes booting at once load a 2-core machine, and
    // this test is about how many daemons start, not how fast.
    const options = { startTimeoutMs: 30_000 };
    const outcomes = await Promise.all(Array.from({ length: 24 }, () => runWorker({ runtimeDir: root, startAt, count: 1, options }, 60_000)));
    for (const outcome of outcomes) expect(outcome.error).toBeUndefined();
    expect(new Set(outcomes.map((o) => o.pid)).size).toBe(1);
    const values = outcomes.flatMap((o) => o.results as number[]).sort((a, b) => a - b);
    expect(values).toEqual(Array.from({ length: 24 }, (_, i) => i + 1));
  });

  it('8 processes x 25 increments return exactly 1..200', async () => {
    const root = freshRoot();
    cleanupAfter(root);
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => runWorker({ runtimeDir: root, count: 25 })));
    expect(new Set(outcomes.map((o) => o.pid)).size).toBe(1);
    for (const outcome of outcomes) {
      // Each process sees its own values strictly increasing: calls from one proxy run in order.
      const own = outcome.results as number[];
      expect(own).toEqual([...own].sort((a, b) => a - b));
    }
    const values = outcomes.flatMap((o) => o.results as number[]).sort((a, b) => a - b);
    expect(values).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  });

  it('async read-await-write methods lose no update across processes', async () => {
    const root = freshRoot();
    cleanupAfter(root);
    const outcomes = await Promise.all(Array.from({ length: 4 }, () => runWorker({ runtimeDir: root, count: 15, method: 'slowInc', op: 'pipelined' })));
    const values = outcomes.flatMap((o) => o.results as number[]).sort((a, b) => a - b);
    expect(values).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
  });

  it('the daemon outlives the process that spawned it, and that process exits on its own', async () => {
    const root = freshRoot();
    cleanupAfter(root);
    // runWorker fails if the worker does not exit by itself (it never calls process.exit).
    const first = await runWorker({ runtimeDir: root, count: 3, options: { idleTtlMs: 10_000 } });
    expect(first.results).toEqual([1, 2, 3]);
    expect(isAlive(first.pid!)).toBe(true);
    const second = await runWorker({ runtimeDir: root, count: 1 });
    expect(second.pid).toBe(first.pid);
    expect(second.results).toEqual([4]);
  });

  it('a process whose proxy is never disposed still exits on its own', async () => {
    const root = freshRoot();
    cleanupAfter(root);
    const outcome = await runWorker({ runtimeDir: root, count: 2, leaveOpen: true });
    expect(outcome.results).toEqual([1, 2]);
  });

  it('shutdown() from another process stops the daemon and removes its metadata', async () => {
    const root = freshRoot();
    const { pid } = await runWorker({ runtimeDir: root, count: 1, options: { idleTtlMs: 10_000 } });
    const svc = localSingleton('svc', COUNTER, { runtimeDir: root });
    await svc.shutdown();
    expect(isAlive(pid!)).toBe(false);
    expect(existsSync(svc.paths.metadata)).toBe(false);
    await waitForExit(pid!);
  });
});
