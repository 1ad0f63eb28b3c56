/**
 * A serving daemon keeps its own runtime files true (src/daemon/upkeep.ts), with real daemons:
 * a deleted or replaced token is restored with the daemon's secret, a deleted ipc socket is
 * re-bound on the same path, and a metadata.json turned into a FIFO or a symlink to /dev/zero
 * neither freezes nor floods the daemon, which rewrites its record.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { LocalSingletonService } from '../../dist/src/index.js';
import { readMetadata } from '../../dist/src/runtime/metadata.js';
import { runWorker, service } from '../support/clients.js';
import { freshRoot, waitForExit } from '../support/daemon.js';
import { until } from '../support/wait.js';

interface Counter {
  inc(): number;
  get(): number;
}

/** The daemon mends within ~100 ms; a second and a half leaves room for a loaded CI box. */
const MEND_DEADLINE_MS = 1500;

/** A served counter in a fresh root, its daemon's pid, and a proxy that has counted to 1. */
async function servedCounter(options: Parameters<typeof service>[0] = {}) {
  const runtimeDir = freshRoot();
  const svc = service<Counter>({ runtimeDir, ...options });
  const proxy = await svc.proxy();
  expect(await proxy.inc()).toBe(1);
  const { pid } = await svc.ping();
  return { runtimeDir, svc, proxy, pid };
}

function daemonLog(svc: LocalSingletonService<unknown>): string {
  return readFileSync(svc.paths.log, 'utf8');
}

/** Waits for daemon.log to show `line`: the daemon logs a mend right after making it. */
async function logged(svc: LocalSingletonService<unknown>, line: string | RegExp): Promise<void> {
  const found = () => (typeof line === 'string' ? daemonLog(svc).includes(line) : line.test(daemonLog(svc)));
  await until(found, `daemon.log to show ${String(line)}`, MEND_DEADLINE_MS);
}

/** Resident memory of `pid` in MiB (Linux). */
function rssMiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : 0;
}

/** Puts `plant` at `path` atomically (made beside it, renamed over it), as an intruder could. */
function replaceWith(path: string, plant: (at: string) => void): void {
  const aside = `${path}.intruder`;
  plant(aside);
  renameSync(aside, path);
}

describe('the token', () => {
  it('deleted while the daemon serves: it comes back with the same bytes, mode 0600, and a new client reaches the same daemon', async () => {
    const { runtimeDir, svc, proxy, pid } = await servedCounter();
    const secret = readFileSync(svc.paths.token);
    rmSync(svc.paths.token);
    // Wait for the daemon to restore it before a new client arrives: a client in the window
    // could make its own token (the client side of that race is not this test's).
    await until(() => existsSync(svc.paths.token), 'the token to be restored', MEND_DEADLINE_MS);
    expect(readFileSync(svc.paths.token).equals(secret)).toBe(true);
    expect(statSync(svc.paths.token).mode & 0o777).toBe(0o600);
    await logged(svc, "token vanished; restored this daemon's secret");

    // A new client process, and the existing proxy: the same daemon, the same state.
    const worker = await runWorker({ runtimeDir, count: 1 });
    expect(worker.error).toBeUndefined();
    expect(worker).toMatchObject({ pid, results: [2] });
    expect(await proxy.inc()).toBe(3);
  });

  it('replaced by another valid token (a client that made its own): the daemon puts its secret back', async () => {
    const { runtimeDir, svc, proxy, pid } = await servedCounter();
    const secret = readFileSync(svc.paths.token);
    const foreign = Buffer.from('ab'.repeat(32), 'latin1');
    replaceWith(svc.paths.token, (at) => writeFileSync(at, foreign, { mode: 0o600 }));
    await until(() => readFileSync(svc.paths.token).equals(secret), 'the daemon to put its secret back', MEND_DEADLINE_MS);
    expect(statSync(svc.paths.token).mode & 0o777).toBe(0o600);
    await logged(svc, 'token was replaced (it holds another secret)');

    const worker = await runWorker({ runtimeDir, count: 1 });
    expect(worker).toMatchObject({ pid, results: [2] });
    expect(await proxy.inc()).toBe(3);
  });

  it('made readable by others, or a symlink: replaced by a private file of the secret', async () => {
    const { svc, pid } = await servedCounter();
    const secret = readFileSync(svc.paths.token);
    replaceWith(svc.paths.token, (at) => writeFileSync(at, secret, { mode: 0o644 }));
    await until(() => (lstatSync(svc.paths.token).mode & 0o777) === 0o600, 'a private token again', MEND_DEADLINE_MS);
    expect(readFileSync(svc.paths.token).equals(secret)).toBe(true);

    const elsewhere = join(svc.paths.dir, '..', 'elsewhere-token');
    writeFileSync(elsewhere, secret, { mode: 0o600 });
    replaceWith(svc.paths.token, (at) => symlinkSync(elsewhere, at));
    await until(() => lstatSync(svc.paths.token).isFile(), 'a regular token file again', MEND_DEADLINE_MS);
    expect(readFileSync(svc.paths.token).equals(secret)).toBe(true);
    expect((await svc.ping()).pid).toBe(pid);
  });
});

describe.skipIf(process.platform === 'win32')('the ipc socket', () => {
  it.each<[string, (path: string) => void]>([
    ['deleted', (path) => rmSync(path)],
    ['replaced by a regular file', (path) => replaceWith(path, (at) => writeFileSync(at, 'not a socket'))],
  ])('%s while the daemon serves: re-bound on the same path; old and new clients reach the same daemon', async (_label, damage) => {
    const { runtimeDir, svc, proxy, pid } = await servedCounter({ transport: 'ipc' });
    const read = readMetadata(svc.paths.metadata);
    const socketPath = read.status === 'valid' ? read.metadata.path! : '';
    const before = lstatSync(socketPath).ino;
    damage(socketPath);
    await until(
      () => {
        const now = lstatSync(socketPath, { throwIfNoEntry: false });
        return now?.isSocket() === true && now.ino !== before;
      },
      'the socket to be re-bound',
      MEND_DEADLINE_MS,
    );
    // The record still names this daemon and its (same) path.
    const after = readMetadata(svc.paths.metadata);
    expect(after.status === 'valid' && [after.metadata.pid, after.metadata.path]).toEqual([pid, socketPath]);
    await logged(svc, `ipc socket ${socketPath} was deleted or replaced; re-bound it`);

    // The connection accepted by the old server lives on.
    expect(await proxy.inc()).toBe(2);
    const worker = await runWorker({ runtimeDir, count: 1, options: { transport: 'ipc' } });
    expect(worker.error).toBeUndefined();
    expect(worker).toMatchObject({ pid, results: [3] });
    expect(await proxy.inc()).toBe(4);
  });

  it('a daemon that re-bound still drains and exits cleanly, removing its socket', async () => {
    const { svc, proxy, pid } = await servedCounter({ transport: 'ipc' });
    const read = readMetadata(svc.paths.metadata);
    const socketPath = read.status === 'valid' ? read.metadata.path! : '';
    rmSync(socketPath);
    await until(() => existsSync(socketPath), 'the socket to be re-bound', MEND_DEADLINE_MS);
    expect(await proxy.inc()).toBe(2);
    await svc.shutdown();
    await waitForExit(pid);
    expect(existsSync(socketPath)).toBe(false);
    expect(existsSync(svc.paths.metadata)).toBe(false);
    await logged(svc, 'exit 0 (stopped)');
  });
});

describe.skipIf(process.platform !== 'linux')('metadata.json turned into something that is not a file', () => {
  it.each<[string, (at: string) => void]>([
    ['a FIFO (no writer)', (at) => execFileSync('mkfifo', ['-m', '600', at])],
    ['a symlink to /dev/zero', (at) => symlinkSync('/dev/zero', at)],
  ])('%s: the daemon keeps answering, stays small, and rewrites its record', async (_label, plant) => {
    const { runtimeDir, svc, proxy, pid } = await servedCounter();
    const record = readFileSync(svc.paths.metadata, 'utf8');

    // Calls keep flowing on the existing connection the whole time.
    let answered = 0;
    let stop = false;
    const caller = (async () => {
      while (!stop) {
        await proxy.inc();
        answered++;
      }
    })();
    onTestFinished(() => {
      stop = true;
    });
    let peakRss = rssMiB(pid);

    replaceWith(svc.paths.metadata, plant);
    const answeredBefore = answered;
    // A client arriving now must not hang past its startTimeoutMs (what it then does is the
    // client's business). A process of its own: a blocking read would freeze it, not the runner.
    const startTimeoutMs = 3000;
    const started = Date.now();
    const settled = runWorker({ runtimeDir, count: 1, options: { startTimeoutMs } }, startTimeoutMs + 10_000)
      .catch(() => undefined)
      .then(() => Date.now() - started);

    await until(
      () => {
        peakRss = Math.max(peakRss, rssMiB(pid));
        return lstatSync(svc.paths.metadata).isFile() && readMetadata(svc.paths.metadata).status === 'valid';
      },
      'the daemon to rewrite its record',
      MEND_DEADLINE_MS,
    );
    expect(readFileSync(svc.paths.metadata, 'utf8')).toBe(record);
    await logged(svc, /metadata\.json was damaged \(not a regular file \((FIFO|symlink)\)\); rewrote it/);

    // Keep calling a little longer, watching memory.
    const until200 = answered + 200;
    await until(
      () => {
        peakRss = Math.max(peakRss, rssMiB(pid));
        return answered >= until200;
      },
      '200 more answered calls',
      10_000,
    );
    stop = true;
    await caller;
    expect(answered).toBeGreaterThan(answeredBefore);
    expect(peakRss).toBeLessThan(300);
    // Its own process start (~0.3 s) comes on top of startTimeoutMs.
    expect(await settled).toBeLessThan(startTimeoutMs + 3000);
    expect((await svc.ping()).pid).toBe(pid);
  });
});
