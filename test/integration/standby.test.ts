/**
 * The standby (src/client/standby.ts): on a cold start the client spawns the daemon process
 * first and decides under the spawn lock whether it becomes the daemon. Every other outcome
 * leaves no process behind, and never a second daemon.
 */
import { execFile, spawn } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { spawnDaemonProcess } from '../../dist/src/client/daemon-process.js';
import { launchDaemon } from '../../dist/src/client/spawn.js';
import { Standby } from '../../dist/src/client/standby.js';
import { localSingleton } from '../../dist/src/index.js';
import { acquireSpawnLock } from '../../dist/src/runtime/lock.js';
import { COUNTER, DIST_INDEX, runWorker, service, WORKER } from '../support/clients.js';
import { daemonConfig, freshRoot, freshRuntime, isAlive, loggedDaemonPids, spawnDaemon, waitForExit } from '../support/daemon.js';
import { processesMentioning } from '../support/proc.js';
import { until } from '../support/wait.js';

const DAEMON_ENTRY = join(import.meta.dirname, '..', '..', 'dist', 'src', 'daemon', 'main.js');

interface StandbyEvent {
  readonly name: string;
  readonly pid: number;
  readonly outcome: string;
}

/** The standby events of this process while the test runs. */
function standbyEvents(): StandbyEvent[] {
  const events: StandbyEvent[] = [];
  const listener = (message: unknown) => events.push(message as StandbyEvent);
  subscribe('loopback-singleton:client:standby', listener);
  onTestFinished(() => {
    unsubscribe('loopback-singleton:client:standby', listener);
  });
  return events;
}

/** Kills what a test left of a process it spawned. */
function killOnFinish(pid: number | undefined): void {
  onTestFinished(async () => {
    if (pid !== undefined && isAlive(pid)) process.kill(pid, 'SIGKILL');
    if (pid !== undefined) await waitForExit(pid);
  });
}

describe('standby: the daemon process spawned ahead of a cold start', () => {
  it('a cold proxy() makes the process it spawned ahead its daemon, and leaves no other process', async () => {
    const events = standbyEvents();
    const svc = service();
    await using counter = await svc.proxy();
    expect(await counter.inc()).toBe(1);
    const { pid } = await svc.ping();
    expect(events.map(({ outcome, pid }) => [outcome, pid])).toEqual([
      ['spawned', pid],
      ['taken', pid],
    ]);
    expect(events[0]!.name).toBe('svc');
    // The runtime root names one process: the daemon.
    expect(processesMentioning(dirname(svc.paths.dir))).toEqual([pid]);
  });

  it('is not spawned when the daemon is running, nor on a restart of a lost daemon', async () => {
    const svc = service({ restart: { maxRestarts: 1, periodMs: 60_000 } });
    await using counter = await svc.proxy();
    const first = (await svc.ping()).pid;
    const events = standbyEvents();
    await using again = await svc.proxy();
    expect(await again.inc()).toBe(1);
    process.kill(first, 'SIGKILL');
    await waitForExit(first);
    // The supervised proxy restarts its daemon (the call that finds it lost says so; the next
    // one starts it afresh): a restart spawns as it always did.
    await expect(counter.inc()).rejects.toMatchObject({ code: 'ERR_DAEMON_LOST' });
    expect(await counter.inc()).toBe(1);
    expect((await svc.ping()).pid).not.toBe(first);
    expect(events).toEqual([]);
  });

  it('one standby per process at a time: a second cold start in the same turn spawns its daemon in turn', async () => {
    const events = standbyEvents();
    const root = freshRoot();
    const services = ['a', 'b'].map((name) => localSingleton(name, COUNTER, { runtimeDir: root }));
    onTestFinished(() => Promise.all(services.map((svc) => svc.shutdown({ force: true }))).then(() => {}));
    const proxies = await Promise.all(services.map((svc) => svc.proxy()));
    expect(await Promise.all(proxies.map((proxy) => proxy.inc()))).toEqual([1, 1]);
    const pids = await Promise.all(services.map(async (svc) => (await svc.ping()).pid));
    expect(events.map(({ name, outcome }) => [name, outcome])).toEqual([
      ['a', 'spawned'],
      ['a', 'taken'],
    ]);
    expect(events[0]!.pid).toBe(pids[0]);
    expect(processesMentioning(root).sort()).toEqual([...pids].sort());
    for (const proxy of proxies) await proxy[Symbol.asyncDispose]();
  });

  it('two cold clients at once: one standby becomes the daemon, every other one is dismissed and exits', async () => {
    const root = freshRoot();
    const startAt = Date.now() + 300;
    const results = await Promise.all([0, 1].map(() => runWorker({ runtimeDir: root, count: 3, startAt, standby: true })));
    const svc = localSingleton('svc', COUNTER, { runtimeDir: root });
    onTestFinished(() => svc.shutdown({ force: true }));
    expect(results.map((result) => result.error)).toEqual([undefined, undefined]);
    expect(results.flatMap((result) => result.results).sort()).toEqual([1, 2, 3, 4, 5, 6]);
    const daemon = (await svc.ping()).pid;
    expect(loggedDaemonPids(svc.paths.log)).toEqual([daemon]);
    const events = results.flatMap((result) => result.standby ?? []);
    const taken = events.filter(({ outcome }) => outcome === 'taken');
    const spawned = events.filter(({ outcome }) => outcome === 'spawned');
    // Exactly one daemon, started by a standby (each worker saw no record when it began).
    expect(taken).toEqual([{ outcome: 'taken', pid: daemon }]);
    // Every standby is accounted for: taken, or dismissed.
    for (const { pid } of spawned) expect(events.filter((e) => e.pid === pid && e.outcome !== 'spawned').length, `standby ${pid}`).toBe(1);
    await until(() => processesMentioning(root).length === 1, 'the dismissed standbys to exit');
    expect(processesMentioning(root)).toEqual([daemon]);
  });

  it('is dismissed, and exits, when another daemon is published while the client waits for the lock', async () => {
    const { root, paths } = freshRuntime('svc');
    // This test holds the spawn lock: the worker spawns its standby, then waits for the lock.
    const lock = await acquireSpawnLock(paths, () => false, AbortSignal.timeout(10_000));
    expect(lock).toBeDefined();
    const worker = runWorker({ runtimeDir: root, count: 1, standby: true });
    await until(() => processesMentioning(root).length === 1, "the worker's standby");
    const [standby] = processesMentioning(root);
    killOnFinish(standby);
    // Meanwhile a daemon is published (another factory: this client must not use it either).
    const rival = await spawnDaemon(daemonConfig(paths), 15_000);
    killOnFinish(rival.pid);
    await lock!.release();
    const result = await worker;
    expect(result.error?.code).toBe('ERR_FACTORY_MISMATCH');
    expect(result.standby).toEqual([
      { outcome: 'spawned', pid: standby },
      { outcome: 'dismissed', pid: standby },
    ]);
    await waitForExit(standby!);
    expect(processesMentioning(root)).toEqual([rival.pid]);
    expect(loggedDaemonPids(paths.log)).toEqual([rival.pid]);
  });

  it('exits when the client that spawned it dies before deciding', async () => {
    const { root, paths } = freshRuntime('svc');
    const lock = await acquireSpawnLock(paths, () => false, AbortSignal.timeout(10_000));
    onTestFinished(() => lock?.release());
    const spec = { dist: DIST_INDEX, runtimeDir: root, name: 'svc', factory: COUNTER, count: 1 };
    const worker = spawn(process.execPath, [WORKER, JSON.stringify(spec)], { stdio: 'ignore' });
    killOnFinish(worker.pid);
    await until(() => processesMentioning(root).length === 1, "the worker's standby");
    const [standby] = processesMentioning(root);
    killOnFinish(standby);
    worker.kill('SIGKILL');
    await waitForExit(standby!);
    expect(existsSync(paths.metadata)).toBe(false);
    expect(loggedDaemonPids(paths.log)).toEqual([]);
  });

  it('exits with a log line when its config does not come within the budget it was given', async () => {
    const { paths } = freshRuntime('svc');
    const child = spawnDaemonProcess({ paths, execArgv: undefined, waitMs: 300 });
    killOnFinish(child.pid);
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(readFileSync(paths.log, 'utf8')).toContain('no config received within 300 ms; exiting');
    expect(existsSync(paths.metadata)).toBe(false);
  });

  it('becomes the daemon it is told to be: launchDaemon sends the config to it', async () => {
    const { paths } = freshRuntime('svc');
    const child = spawnDaemonProcess({ paths, execArgv: undefined, waitMs: 10_000 });
    killOnFinish(child.pid);
    const { pid, metadata } = await launchDaemon(daemonConfig(paths), child).ready;
    expect(pid).toBe(child.pid);
    expect(metadata.pid).toBe(child.pid);
    expect(loggedDaemonPids(paths.log)).toEqual([child.pid]);
  });

  it('Standby.forColdStart: none while a record exists or another standby of this process waits', async () => {
    const events = standbyEvents();
    const { paths } = freshRuntime('svc');
    const first = Standby.forColdStart('svc', paths, undefined, 10_000);
    expect(first).toBeDefined();
    expect(Standby.forColdStart('svc', paths, undefined, 10_000)).toBeUndefined();
    const pid = events[0]!.pid;
    killOnFinish(pid);
    first!.dismiss();
    first!.dismiss();
    await waitForExit(pid);
    expect(first!.take()).toBeUndefined();
    expect(events.map(({ outcome }) => outcome)).toEqual(['spawned', 'dismissed']);

    const other = freshRuntime('other');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(other.paths.metadata, '{}');
    expect(Standby.forColdStart('other', other.paths, undefined, 10_000)).toBeUndefined();
    expect(events).toHaveLength(2);
  });

  it('the daemon entry refuses to run by hand', async () => {
    const { root } = freshRuntime('svc');
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, [DAEMON_ENTRY, root, '1000'], (error, _stdout, stderr) => resolve({ code: error ? (error.code as number) : 0, stderr }));
      void child;
    });
    expect(code).toBe(2);
    expect(stderr).toContain('the daemon entry is started by the library, not by hand');
  });
});
