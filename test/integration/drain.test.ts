/**
 * A hosted method that never settles (test/fixtures/services.mjs `Counter#never`: a pending
 * promise, a timer keeping the daemon's loop alive) against every way of stopping or leaving
 * its daemon, with real processes: `shutdown()` is bounded by the drain deadline,
 * `shutdown({ force: true })` and `stop --force` kill the recorded process, `closeRemote`
 * settles at once, and a new client waits for the draining daemon to exit and never starts a
 * second one beside it. Outcomes are counted, never timed: deadlines are generous sentinels.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { closeRemote, localSingleton, type LocalSingletonOptions, type LocalSingletonService, type Remote } from '../../dist/src/index.js';
import { backupPathOf, readMetadata } from '../../dist/src/runtime/metadata.js';
import { isSameProcess } from '../../dist/src/runtime/process.js';
import type { DaemonMetadata } from '../../dist/src/types.js';
import { COUNTER } from '../support/clients.js';
import { freshRoot, isAlive, loggedDaemonPids } from '../support/daemon.js';
import { sleep, until } from '../support/wait.js';

interface Counter {
  inc(): number;
  never(): Promise<never>;
}

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');
/** What a settled-in-time operation races against: far beyond any deadline under test. */
const SENTINEL_MS = 30_000;

function serviceIn(root: string, options: LocalSingletonOptions = {}): LocalSingletonService<Counter> {
  const svc = localSingleton<Counter>('drain', COUNTER, { runtimeDir: root, idleTtlMs: 60_000, ...options });
  onTestFinished(() => svc.shutdown({ force: true }));
  return svc;
}

/** Which of `promise` and a `ms` sentinel settles first (the sentinel's timer is cleared). */
async function race(promise: Promise<unknown>, ms: number): Promise<'settled' | 'sentinel'> {
  let timer: NodeJS.Timeout | undefined;
  const sentinel = new Promise<'sentinel'>((resolve) => {
    timer = setTimeout(() => resolve('sentinel'), ms);
  });
  try {
    return await Promise.race([
      promise.then(
        () => 'settled' as const,
        () => 'settled' as const,
      ),
      sentinel,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts the daemon and a call on it that never settles; resolves once that call runs. */
async function busyDaemon(svc: LocalSingletonService<Counter>): Promise<{ proxy: Remote<Counter>; held: Promise<unknown>; metadata: DaemonMetadata }> {
  const proxy = await svc.proxy();
  const held = proxy.never().catch((error: unknown) => error);
  onTestFinished(async () => {
    await closeRemote(proxy);
    await held;
  });
  for (let running = 0; running !== 1; ) {
    await sleep(20);
    running = (await svc.ping()).running;
  }
  const read = readMetadata(svc.paths.metadata);
  if (read.status !== 'valid') throw new Error(`no valid record: ${read.status}`);
  return { proxy, held, metadata: read.metadata };
}

function recordOf(path: string): DaemonMetadata | undefined {
  const read = readMetadata(path);
  return read.status === 'valid' ? read.metadata : undefined;
}

describe('a method that never settles', () => {
  it('shutdown() resolves once the drain deadline ends the daemon, which logs the abandoned call', async () => {
    const svc = serviceIn(freshRoot(), { drainTimeoutMs: 1000 });
    const { held, metadata } = await busyDaemon(svc);
    expect(await race(svc.shutdown(), SENTINEL_MS)).toBe('settled');
    expect(isSameProcess(metadata.pid, metadata.startTime)).toBe(false);
    expect(await held).toMatchObject({ code: 'ERR_DAEMON_LOST' });
    expect(existsSync(svc.paths.metadata)).toBe(false);
    expect(existsSync(backupPathOf(svc.paths.metadata))).toBe(false);
    const log = readFileSync(svc.paths.log, 'utf8');
    expect(log).toContain(`[daemon ${metadata.pid}] drain deadline passed (drainTimeoutMs 1000 ms): exiting with 1 running call (never) abandoned`);
    expect(log).toContain(`[daemon ${metadata.pid}] exit 0 (stopped)`);
  }, 40_000);

  it('a graceful shutdown() fails clearly when the daemon outlives drainTimeoutMs + slack, and leaves it running', async () => {
    // The daemon's deadline (from its spawner) is long; this client's is short.
    const root = freshRoot();
    const svc = serviceIn(root, { drainTimeoutMs: 60_000 });
    const { metadata } = await busyDaemon(svc);
    const impatient = localSingleton<Counter>('drain', COUNTER, { runtimeDir: root, drainTimeoutMs: 0 });
    await expect(impatient.shutdown()).rejects.toMatchObject({ code: 'ERR_DAEMON_UNRESPONSIVE' });
    expect(isSameProcess(metadata.pid, metadata.startTime)).toBe(true);
    // Still recorded, marked draining: no client starts another beside it.
    expect(recordOf(svc.paths.metadata)).toMatchObject({ pid: metadata.pid, draining: true });
  }, 40_000);

  it('shutdown({ force: true }) kills the recorded process whatever its state, and removes its files', async () => {
    const svc = serviceIn(freshRoot(), { drainTimeoutMs: 60_000, transport: 'ipc' });
    const { held, metadata } = await busyDaemon(svc);
    // Draining already (a graceful stop that cannot finish): the force still reaches it.
    process.kill(metadata.pid, 'SIGTERM');
    await until(() => recordOf(svc.paths.metadata)?.draining === true, 'the record to be marked draining');
    expect(await race(svc.shutdown({ force: true }), SENTINEL_MS)).toBe('settled');
    expect(isSameProcess(metadata.pid, metadata.startTime)).toBe(false);
    expect(await held).toMatchObject({ code: 'ERR_DAEMON_LOST' });
    expect(existsSync(svc.paths.metadata)).toBe(false);
    expect(existsSync(backupPathOf(svc.paths.metadata))).toBe(false);
    expect(existsSync(metadata.path!)).toBe(false);
  }, 40_000);

  it('`stop --force` kills the recorded process whatever its state: draining, and stopped', async () => {
    const root = freshRoot();
    const svc = serviceIn(root, { drainTimeoutMs: 60_000 });
    const { metadata } = await busyDaemon(svc);
    process.kill(metadata.pid, 'SIGTERM');
    await until(() => recordOf(svc.paths.metadata)?.draining === true, 'the record to be marked draining');
    // Stopped as well: it cannot finish its drain by itself (a running daemon asked to stop
    // with force may exit on its own just as the CLI's grace runs out), so only a kill ends it.
    process.kill(metadata.pid, 'SIGSTOP');
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const env = { ...process.env, LOOPBACK_SINGLETON_RUNTIME_DIR: root };
      execFile(process.execPath, [CLI, 'stop', 'drain', '--force'], { env, timeout: SENTINEL_MS }, (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`stopped "drain": pid ${metadata.pid} killed (SIGKILL)`);
    expect(isSameProcess(metadata.pid, metadata.startTime)).toBe(false);
    expect(existsSync(svc.paths.metadata)).toBe(false);
  }, 40_000);

  it('closeRemote settles at once; the pending call rejects with ERR_PROXY_CLOSED and still runs on the daemon', async () => {
    const svc = serviceIn(freshRoot());
    const proxy = await svc.proxy();
    const pending = proxy.never().catch((error: unknown) => error);
    for (let running = 0; running !== 1; ) {
      await sleep(20);
      running = (await svc.ping()).running;
    }
    // A 5 s sentinel: the close must win it (it takes a fraction of a second).
    expect(await race(closeRemote(proxy), 5000)).toBe('settled');
    expect(await pending).toMatchObject({ code: 'ERR_PROXY_CLOSED' });
    expect(String(((await pending) as Error).message)).toContain('may still run');
    // The daemon is untouched: the call still runs there.
    expect(await svc.ping()).toMatchObject({ running: 1 });
  }, 40_000);

  it('await using settles at once too', async () => {
    const svc = serviceIn(freshRoot());
    let pending: Promise<unknown> | undefined;
    const scope = (async () => {
      await using proxy = await svc.proxy();
      pending = proxy.never().catch((error: unknown) => error);
      await sleep(100);
    })();
    expect(await race(scope, 5000)).toBe('settled');
    expect(await pending).toMatchObject({ code: 'ERR_PROXY_CLOSED' });
  }, 40_000);

  it('a new client during the drain waits for the old daemon to exit and never starts one beside it', async () => {
    const root = freshRoot();
    const drainTimeoutMs = 1500;
    const svc = serviceIn(root, { drainTimeoutMs });
    const { metadata: old } = await busyDaemon(svc);
    const log = svc.paths.log;
    // Sample the live daemons of this root while the drain and the new start go on.
    let most = 0;
    let samples = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const live = loggedDaemonPids(log).filter(isAlive).length;
        most = Math.max(most, live);
        samples++;
        await sleep(10);
      }
    })();
    onTestFinished(async () => {
      sampling = false;
      await sampler;
    });
    process.kill(old.pid, 'SIGTERM');
    await until(() => recordOf(svc.paths.metadata)?.draining === true, 'the record to be marked draining');
    const newcomer = localSingleton<Counter>('drain', COUNTER, { runtimeDir: root, idleTtlMs: 60_000, startTimeoutMs: 20_000 });
    onTestFinished(() => newcomer.shutdown({ force: true }));
    const proxy = await newcomer.proxy();
    // By the time it got a daemon, the old one had exited: it was waited for.
    expect(isSameProcess(old.pid, old.startTime)).toBe(false);
    expect(await proxy.inc()).toBe(1);
    const { pid } = await newcomer.ping();
    expect(pid).not.toBe(old.pid);
    await closeRemote(proxy);
    sampling = false;
    await sampler;
    expect(samples).toBeGreaterThan(10);
    expect(most).toBe(1);
    const text = readFileSync(log, 'utf8');
    // Gone by its drain deadline, before the new daemon booted.
    expect(text).toContain(`[daemon ${old.pid}] drain deadline passed (drainTimeoutMs ${drainTimeoutMs} ms)`);
    expect(text.indexOf(`[daemon ${old.pid}] exit 0 (stopped)`)).toBeLessThan(text.indexOf(`[daemon ${pid}] `));
  }, 40_000);
});
