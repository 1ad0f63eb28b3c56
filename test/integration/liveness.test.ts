/**
 * Liveness is not responsiveness, with real processes: a daemon whose process runs is never
 * replaced because it answers slowly. A hosted method busy on the CPU and a SIGSTOPped daemon
 * make new clients wait (and, past `startTimeoutMs`, fail with ERR_DAEMON_UNRESPONSIVE); the
 * daemon, its object and its state stay, and never a second daemon runs beside it. And a
 * supervised proxy never moves to another object silently.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ConnectionFailedError, DaemonConnectionError, localSingleton, type LocalSingletonService, type Remote } from '../../dist/src/index.js';
import { readMetadata } from '../../dist/src/runtime/metadata.js';
import { isProcessAlive, isSameProcess, processStartTime } from '../../dist/src/runtime/process.js';
import { COUNTER, runWorker, service, type WorkerResult } from '../support/clients.js';
import { loggedDaemonPids } from '../support/daemon.js';
import { sleep, until } from '../support/wait.js';

interface Counter {
  inc(): number;
  get(): number;
  spin(ms: number): number;
}

/** Samples the live daemons of `svc`'s runtime dir every 25 ms until the test ends: the most seen at once. */
function sampleLiveDaemons(svc: LocalSingletonService<unknown>): { readonly max: () => number; readonly samples: () => number } {
  let max = 0;
  let samples = 0;
  const timer = setInterval(() => {
    samples++;
    max = Math.max(max, loggedDaemonPids(svc.paths.log).filter(isProcessAlive).length);
  }, 25);
  onTestFinished(() => clearInterval(timer));
  return { max: () => max, samples: () => samples };
}

/** SIGSTOPs `pid`; the returned function (also run when the test ends) continues it. */
function freeze(pid: number): () => void {
  process.kill(pid, 'SIGSTOP');
  const resume = () => void (isProcessAlive(pid) && process.kill(pid, 'SIGCONT'));
  onTestFinished(resume);
  return resume;
}

/**
 * The newcomer was answered by daemon `pid` with the next count (12), the existing proxy goes
 * on with 13, and no other daemon ever ran or lived beside it.
 */
async function expectSameObject(newcomer: WorkerResult, proxy: Remote<Counter>, svc: LocalSingletonService<Counter>, pid: number, live: { max(): number }) {
  expect(newcomer.error).toBeUndefined();
  expect(newcomer.pid).toBe(pid);
  expect(newcomer.results).toEqual([12]);
  expect(await proxy.inc()).toBe(13);
  expect(loggedDaemonPids(svc.paths.log)).toEqual([pid]);
  expect(live.max()).toBe(1);
}

/** A proxy that has counted to 11, and its daemon's pid. */
async function countedTo11(svc: LocalSingletonService<Counter>) {
  const proxy = await svc.proxy();
  onTestFinished(() => proxy[Symbol.asyncDispose]());
  for (let i = 0; i < 11; i++) await proxy.inc();
  expect(await proxy.get()).toBe(11);
  return { proxy, pid: (await svc.ping()).pid };
}

describe('liveness is not responsiveness', () => {
  it('a method busy on the CPU for 2.5 s while a new client (default options) arrives: one daemon, the same object', async () => {
    const svc = service<Counter>({}, COUNTER, 'busy');
    const live = sampleLiveDaemons(svc);
    const { proxy, pid } = await countedTo11(svc);

    const busy = proxy.spin(2500);
    await sleep(100);
    // A new process, default options: connectTimeoutMs 500 is missed several times over.
    const newcomer = await runWorker({ runtimeDir: dirname(svc.paths.dir), name: 'busy', count: 1, method: 'inc' });
    expect(await busy).toBe(11);
    // The existing proxy goes on with the same object.
    await expectSameObject(newcomer, proxy, svc, pid, live);
    expect((await svc.ping()).pid).toBe(pid);
    expect(live.samples()).toBeGreaterThan(10);
  });

  it('busy past startTimeoutMs: the new client fails with ERR_DAEMON_UNRESPONSIVE naming the pid; no second daemon', async () => {
    const svc = service<Counter>({}, COUNTER, 'stuck');
    const live = sampleLiveDaemons(svc);
    const { proxy, pid } = await countedTo11(svc);

    const busy = proxy.spin(4000);
    await sleep(100);
    const impatient = localSingleton<Counter>('stuck', COUNTER, { runtimeDir: dirname(svc.paths.dir), startTimeoutMs: 1500 });
    const started = Date.now();
    const error = await impatient.proxy().then(
      () => undefined,
      (e: unknown) => e,
    );
    // A bound against a hang, not a timing measurement: it gave up on its own budget.
    expect(Date.now() - started).toBeLessThan(1500 + 2000);
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect((error as ConnectionFailedError).code).toBe('ERR_DAEMON_UNRESPONSIVE');
    expect((error as Error).message).toContain(`(pid ${pid}) is running but did not complete a handshake`);
    expect((error as Error).message).toContain('startTimeoutMs (1500 ms)');
    expect((error as Error).message).toContain('stop stuck --force');
    // Left alone: still published, still the same object.
    const read = readMetadata(svc.paths.metadata);
    expect(read.status === 'valid' && read.metadata.pid).toBe(pid);
    expect(await busy).toBe(11);
    expect(await proxy.inc()).toBe(12);
    expect(loggedDaemonPids(svc.paths.log)).toEqual([pid]);
    expect(live.max()).toBe(1);
  });

  it('a daemon SIGSTOPped for 3 s, a new client with connectTimeoutMs 500: it waits, and gets the same object', async () => {
    const svc = service<Counter>({}, COUNTER, 'frozen');
    const live = sampleLiveDaemons(svc);
    const { proxy, pid } = await countedTo11(svc);

    const resume = freeze(pid);
    const newcomer = runWorker({ runtimeDir: dirname(svc.paths.dir), name: 'frozen', count: 1, method: 'inc', options: { connectTimeoutMs: 500 } });
    await sleep(3000);
    resume();
    await expectSameObject(await newcomer, proxy, svc, pid, live);
  });

  it('a client that finds the token replaced (another client made its own in the gap) waits for the daemon to restore it: same daemon, same object', async () => {
    const svc = service<Counter>({}, COUNTER, 'retoken');
    const live = sampleLiveDaemons(svc);
    const { proxy, pid } = await countedTo11(svc);
    const own = readFileSync(svc.paths.token);
    // Stopped, so that it cannot restore its token before the newcomer has read the wrong one.
    const resume = freeze(pid);
    // What a client that arrived right after a tmp cleaner would write: a token of its own.
    rmSync(svc.paths.token);
    writeFileSync(svc.paths.token, 'b'.repeat(64), { mode: 0o600 });
    const pending = runWorker({ runtimeDir: dirname(svc.paths.dir), name: 'retoken', count: 1, method: 'inc', options: { connectTimeoutMs: 300 } });
    await sleep(1000);
    resume();
    await expectSameObject(await pending, proxy, svc, pid, live);
    expect(readFileSync(svc.paths.token).equals(own)).toBe(true);
  });

  it.each([
    ['emptied', (path: string) => writeFileSync(path, '')],
    ['deleted', (path: string) => rmSync(path)],
  ])("metadata.json %s while a method keeps the daemon busy: the record's copy names it, and a new client waits for it, never starts a second", async (_how, damage) => {
    const svc = service<Counter>({}, COUNTER, 'damaged');
    const live = sampleLiveDaemons(svc);
    const { proxy, pid } = await countedTo11(svc);
    const busy = proxy.spin(2500);
    await sleep(100);
    // The busy daemon cannot mend its record; the newcomer finds it damaged, and under the
    // lock, after the grace for a mend, reads the copy.
    damage(svc.paths.metadata);
    const newcomer = await runWorker({ runtimeDir: dirname(svc.paths.dir), name: 'damaged', count: 1, method: 'inc' });
    expect(await busy).toBe(11);
    await expectSameObject(newcomer, proxy, svc, pid, live);
    // Mended once the method returned.
    const read = readMetadata(svc.paths.metadata);
    expect(read.status === 'valid' && read.metadata.pid).toBe(pid);
  });

  it('the metadata records the daemon process start time, which is how a reused pid is told apart', async () => {
    const svc = service<Counter>({}, COUNTER, 'identity');
    const { pid } = await svc.ping();
    const read = readMetadata(svc.paths.metadata);
    expect(read.status).toBe('valid');
    const recorded = read.status === 'valid' ? read.metadata : undefined;
    expect(recorded!.pid).toBe(pid);
    if (process.platform === 'linux') expect(recorded!.startTime).toBe(processStartTime(pid));
    expect(isSameProcess(pid, recorded!.startTime)).toBe(true);
  });
});

describe('a supervised proxy never moves to another object silently', () => {
  it('its daemon shut down and replaced by another client while its connection was idle: the next call fails with ERR_DAEMON_LOST, unsent', async () => {
    const svc = service<Counter>({}, COUNTER, 'moved');
    const { proxy, pid } = await countedTo11(svc);
    const lost = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (!isProcessAlive(pid)) {
          clearInterval(check);
          resolve();
        }
      }, 10);
    });
    await svc.shutdown();
    await lost;
    // Another process starts the singleton again: a new object, counting from 0.
    const other = await runWorker({ runtimeDir: dirname(svc.paths.dir), name: 'moved', count: 1, method: 'inc' });
    expect(other.results).toEqual([1]);
    expect(other.pid).not.toBe(pid);

    const error = await proxy.inc().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(DaemonConnectionError);
    expect((error as DaemonConnectionError).code).toBe('ERR_DAEMON_LOST');
    expect((error as Error).message).toContain(`(pid ${pid}) was lost`);
    expect((error as Error).message).toContain(`new daemon (pid ${other.pid})`);
    // That call did not reach the new object; the next one does, and the proxy says so.
    const info = await svc.ping();
    expect(info.pid).toBe(other.pid);
    expect(await proxy.get()).toBe(1);
    expect(await proxy.inc()).toBe(2);
  });

  it('calls in flight when the daemon is lost are the ones told; the next call goes on with the new daemon', async () => {
    const svc = service<Counter>({}, COUNTER, 'told');
    const { proxy, pid } = await countedTo11(svc);
    const inFlight = proxy.spin(1000).then(
      () => undefined,
      (e: unknown) => e,
    );
    await sleep(100);
    process.kill(pid, 'SIGKILL');
    const error = await inFlight;
    expect((error as DaemonConnectionError).code).toBe('ERR_DAEMON_LOST');
    await until(() => !isProcessAlive(pid), `daemon ${pid} to exit`);
    // Already told: the restart is transparent.
    expect(await proxy.inc()).toBe(1);
    expect((await svc.ping()).pid).not.toBe(pid);
  });
});
