/**
 * Many singletons started at once from one process (issue 19, point 4): on a 2-core machine,
 * 40 parallel proxy() calls for 40 names. Every call either succeeds or fails once, by its
 * deadline, with a ConnectionFailedError; the daemons do not idle-exit before their spawner
 * connected, so they are not spawned again and again; with a budget large enough, all start.
 */
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { closeRemote, localSingleton, type LocalSingletonService, type Remote } from '../../dist/src/index.js';
import { ConnectionFailedError, type LoopbackSingletonError } from '../../dist/src/errors.js';
import { freshRoot, loggedDaemonPids } from '../support/daemon.js';
import { COUNTER } from '../support/clients.js';

type Counter = { inc(): number };

const STARTS = 40;
/**
 * What a failed start may say: it could not start or reach its daemon in time, or (the
 * daemon's own boot timeout, reported just before the spawner's deadline) its factory had
 * not finished creating the object.
 */
const START_FAILURES = ['ERR_CONNECTION_FAILED', 'ERR_DAEMON_UNRESPONSIVE', 'ERR_FACTORY'];
/** Slack on top of a start's deadline for a loaded machine: a bound, not a measurement. */
const SLACK_MS = 20_000;

interface Outcome {
  readonly remote?: Remote<Counter>;
  readonly error?: unknown;
  readonly ms: number;
}

/** Starts STARTS names at once; returns each outcome, the daemons booted, and stops them all. */
async function startMany(startTimeoutMs?: number): Promise<{ outcomes: Outcome[]; boots: number }> {
  const runtimeDir = freshRoot();
  const options = startTimeoutMs === undefined ? { runtimeDir } : { runtimeDir, startTimeoutMs };
  const services: LocalSingletonService<Counter>[] = Array.from({ length: STARTS }, (_, i) => localSingleton<Counter>(`many-${i}`, COUNTER, options));
  try {
    const outcomes = await Promise.all(
      services.map(async (svc): Promise<Outcome> => {
        const started = performance.now();
        try {
          const remote = await svc.proxy();
          return { remote, ms: performance.now() - started };
        } catch (error) {
          return { error, ms: performance.now() - started };
        }
      }),
    );
    for (const { remote } of outcomes) if (remote) expect(await remote.inc()).toBe(1);
    for (const { remote } of outcomes) if (remote) await closeRemote(remote);
    return { outcomes, boots: services.reduce((sum, svc) => sum + loggedDaemonPids(svc.paths.log).length, 0) };
  } finally {
    await Promise.all(services.map((svc) => svc.shutdown({ force: true })));
  }
}

describe('many singletons started at once', () => {
  it('default options: each start succeeds or fails once by its deadline with a start error; fewer than 50 daemons booted', async () => {
    const { outcomes, boots } = await startMany();
    for (const { error, ms } of outcomes) {
      expect(ms).toBeLessThan(5000 + SLACK_MS);
      if (error === undefined) continue;
      const { code } = error as LoopbackSingletonError;
      expect(START_FAILURES).toContain(code);
      if (code !== 'ERR_FACTORY') expect(error).toBeInstanceOf(ConnectionFailedError);
    }
    expect(outcomes).toHaveLength(STARTS);
    expect(boots).toBeGreaterThan(0);
    expect(boots).toBeLessThan(50);
  }, 120_000);

  it('startTimeoutMs: 30000: all 40 start, one daemon each', async () => {
    const { outcomes, boots } = await startMany(30_000);
    expect(outcomes.filter((o) => o.error !== undefined).map((o) => String(o.error))).toEqual([]);
    expect(boots).toBe(STARTS);
  }, 120_000);
});
