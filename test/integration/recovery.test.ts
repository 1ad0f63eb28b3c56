/**
 * Stale-state recovery through the public API: whatever a dead daemon, a killed starter or a
 * foreign process left in the runtime dir, the next `proxy()` cleans it (under the lock) and
 * starts a working daemon.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ConnectionFailedError, DaemonConnectionError, type LocalSingletonService, type Remote } from '../../dist/src/index.js';
import { ensurePrivateDir } from '../../dist/src/runtime/dir.js';
import { readMetadata } from '../../dist/src/runtime/metadata.js';
import { isAlive, waitForExit } from '../support/daemon.js';
import { deadPid, foreignListener, freePort, staleMetadata } from '../support/stale.js';
import { IDLE_TEST_START_TIMEOUT_MS, service } from '../support/clients.js';
import { processesMentioning } from '../support/proc.js';
import { sleep, until } from '../support/wait.js';

interface Counter {
  inc(): number;
  get(): number;
  hold(ms: number, tag: unknown): Promise<unknown>;
}

const REPO_ROOT = join(import.meta.dirname, '..', '..');

/** Polls `condition` until it holds; fails after `timeoutMs`. */
async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Writes `content` as the service's metadata.json (creating its private dir). */
function plantMetadata(svc: LocalSingletonService<unknown>, content: string | Buffer): void {
  ensurePrivateDir(svc.paths.dir);
  writeFileSync(svc.paths.metadata, content, { mode: 0o600 });
}

/**
 * The next `proxy()` works with a freshly started daemon: fresh state, metadata that is
 * valid and names the daemon that answers, a daemon other than `notPid`, and the spawn lock
 * released afterwards.
 */
async function expectRecovered(svc: LocalSingletonService<Counter>, notPid?: number): Promise<number> {
  const proxy: Remote<Counter> = await svc.proxy();
  try {
    expect(await proxy.inc()).toBe(1);
    expect(await proxy.inc()).toBe(2);
    const { pid } = await svc.ping();
    if (notPid !== undefined) expect(pid).not.toBe(notPid);
    expect(isAlive(pid)).toBe(true);
    const read = readMetadata(svc.paths.metadata);
    expect(read.status).toBe('valid');
    expect(read.status === 'valid' && read.metadata.pid).toBe(pid);
    // The lock is released (asynchronously) once the start is over.
    await waitFor(() => !existsSync(svc.paths.lock), 'the spawn lock to be released');
    return pid;
  } finally {
    await proxy[Symbol.asyncDispose]();
  }
}

/** Metadata naming this process's pid with a start time that is not its own: the pid was reused. */
function reusedPidMetadata(port: number): Record<string, unknown> {
  return { ...staleMetadata(process.pid, port), startTime: 'test:another-process' };
}

/**
 * The recorded process is alive (this test process: no start time recorded, so the pid alone
 * says so), so whatever answers at its address, the client waits for it and then fails with
 * ERR_DAEMON_UNRESPONSIVE; it starts nothing and cleans nothing.
 */
async function expectLeftAlone(svc: LocalSingletonService<Counter>): Promise<void> {
  const before = readFileSync(svc.paths.metadata, 'utf8');
  const error = await svc.proxy().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConnectionFailedError);
  expect((error as ConnectionFailedError).code).toBe('ERR_DAEMON_UNRESPONSIVE');
  expect((error as Error).message).toContain(`(pid ${process.pid}) is running but did not complete a handshake`);
  expect(readFileSync(svc.paths.metadata, 'utf8')).toBe(before);
  expect(existsSync(svc.paths.log)).toBe(false);
}

/**
 * A child process that takes the spawn lock as src/runtime/lock.ts does (proper-lockfile, then
 * its holder record; no start time, so its pid alone says it runs), prints `locked`, then
 * waits forever. Killed when the test ends if still alive.
 */
async function lockHolder(svc: LocalSingletonService<unknown>): Promise<ChildProcess> {
  ensurePrivateDir(svc.paths.dir);
  const script = `
    const lockfile = require('proper-lockfile');
    const [dir, lockPath] = process.argv.slice(1);
    lockfile
      .lock(require('node:path').join(dir, 'spawn'), { lockfilePath: lockPath, realpath: false, stale: 0x7fffffff })
      .then(() => {
        require('node:fs').writeFileSync(require('node:path').join(lockPath, 'holder.json'), JSON.stringify({ pid: process.pid }));
        process.stdout.write('locked\\n');
        setInterval(() => {}, 1 << 30);
      })
      .catch((error) => { process.stderr.write(String(error && error.stack)); process.exit(1); });
  `;
  const child = spawn(process.execPath, ['-e', script, svc.paths.dir, svc.paths.lock], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await waitForExit(child.pid!);
    }
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('locked')) resolve();
    });
    child.once('exit', (code, signal) => reject(new Error(`lock holder exited (${signal ?? code}) before locking: ${stderr}`)));
  });
  expect(lstatSync(svc.paths.lock).isDirectory()).toBe(true);
  return child;
}

async function killAndReap(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  await waitForExit(child.pid!);
}

describe('stale-state recovery', () => {
  it('after the idle TTL the daemon exits; the next proxy starts a new daemon with fresh state', async () => {
    const svc = service<Counter>({ idleTtlMs: 300, startTimeoutMs: IDLE_TEST_START_TIMEOUT_MS });
    const first = await svc.proxy();
    expect(await first.inc()).toBe(1);
    expect(await first.inc()).toBe(2);
    const { pid } = await svc.ping();
    await first[Symbol.asyncDispose]();
    await waitForExit(pid);
    expect(existsSync(svc.paths.metadata)).toBe(false);
    await expectRecovered(svc, pid);
  });

  describe('stale metadata is detected, cleaned and replaced', () => {
    const json = JSON.stringify(staleMetadata(424242, 1), null, 2);
    const malformed: Array<[string, string | Buffer]> = [
      ['(a) truncated JSON', json.slice(0, Math.floor(json.length / 2))],
      ['(b) corrupt bytes, not JSON', Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0xc1]), randomBytes(64)])],
      ['(b) empty file', ''],
      ['(c) valid JSON without instanceId', JSON.stringify({ ...staleMetadata(424242, 1), instanceId: undefined })],
      ['(c) valid JSON without port', JSON.stringify({ ...staleMetadata(424242, 1), port: undefined })],
      ['(c) valid JSON of the wrong type', '[1, 2, 3]'],
    ];

    it.each(malformed)('%s', async (_label, content) => {
      const svc = service<Counter>();
      plantMetadata(svc, content);
      expect(readMetadata(svc.paths.metadata).status).toBe('malformed');
      await expectRecovered(svc);
    });

    it('(d) a dead pid and a port nothing listens on', async () => {
      const svc = service<Counter>();
      const pid = deadPid();
      plantMetadata(svc, JSON.stringify(staleMetadata(pid, await freePort())));
      expect(readMetadata(svc.paths.metadata).status).toBe('valid');
      await expectRecovered(svc, pid);
    });

    it('(d) a dead pid whose port a foreign listener now holds: never spoken to, its record cleaned, a daemon of its own started', async () => {
      const svc = service<Counter>();
      const foreign = await foreignListener('challenge');
      const pid = deadPid();
      const planted = staleMetadata(pid, foreign.port);
      plantMetadata(svc, JSON.stringify(planted));
      expect(readMetadata(svc.paths.metadata).status).toBe('valid');

      const started = await expectRecovered(svc, pid);
      // A dead recorded pid ends the matter: whatever listens at its port is not asked anything.
      expect(foreign.connections()).toBe(0);
      expect(foreign.bytes().length).toBe(0);
      // The dead daemon's record is gone; the one there now names the daemon this client started.
      const read = readMetadata(svc.paths.metadata);
      expect(read.status === 'valid' && read.metadata.instanceId).not.toBe(planted.instanceId);
      expect(read.status === 'valid' && read.metadata.port).not.toBe(foreign.port);
      expect(read.status === 'valid' && read.metadata.pid).toBe(started);
    });

    it('(e) a pid now used by another process (its start time differs), a foreign listener at its port: stale on sight, never spoken to', async () => {
      const svc = service<Counter>();
      const foreign = await foreignListener('challenge');
      plantMetadata(svc, JSON.stringify(reusedPidMetadata(foreign.port)));
      await expectRecovered(svc, process.pid);
      expect(foreign.connections()).toBe(0);
    });

    it('(e) a live recorded process whose port a foreign listener answers: its proof is rejected, the secret never reaches it, and the live process is not replaced', async () => {
      const svc = service<Counter>({ startTimeoutMs: 1000 });
      const foreign = await foreignListener('challenge');
      plantMetadata(svc, JSON.stringify(staleMetadata(process.pid, foreign.port)));
      await expectLeftAlone(svc);

      expect(foreign.connections()).toBeGreaterThanOrEqual(1);
      const messages = foreign.messages();
      // It was spoken to (a hello), and nothing else: no auth, no call, no ping.
      expect(messages.length).toBeGreaterThanOrEqual(1);
      for (const message of messages) expect(message.t).toBe('hello');
      expect(messages.some((m) => m.t === 'auth')).toBe(false);
      const tokenText = readFileSync(svc.paths.token, 'latin1');
      expect(tokenText).toMatch(/^[0-9a-f]{64}$/);
      const bytes = foreign.bytes();
      expect(bytes.length).toBeGreaterThan(0);
      expect(bytes.includes(Buffer.from(tokenText, 'latin1'))).toBe(false);
      expect(bytes.includes(Buffer.from(tokenText, 'hex'))).toBe(false);
      expect(bytes.includes(Buffer.from(tokenText.toUpperCase(), 'latin1'))).toBe(false);
      // The client hung up on it.
      await waitFor(() => foreign.openSockets() === 0, 'the client to close its connections to the foreign listener');
    });

    it('(f) a listener that accepts and stays silent at a live recorded process: a frozen daemon as far as anyone can tell; tried again each connectTimeoutMs, left alone', async () => {
      const svc = service<Counter>({ connectTimeoutMs: 300, startTimeoutMs: 1000 });
      const foreign = await foreignListener('silent');
      plantMetadata(svc, JSON.stringify(staleMetadata(process.pid, foreign.port)));
      await expectLeftAlone(svc);
      expect(foreign.connections()).toBeGreaterThanOrEqual(2);
      for (const message of foreign.messages()) expect(message.t).toBe('hello');
      await waitFor(() => foreign.openSockets() === 0, 'the client to close its connections to the silent listener');
    });

    it.each(['ERR_FACTORY', 'ERR_FACTORY_MISMATCH'])('(g) a foreign listener that answers the hello with an unauthenticated %s error is not believed', async (code) => {
      const svc = service<Counter>({ startTimeoutMs: 1000 });
      const foreign = await foreignListener({ t: 'error', id: null, e: { code, name: 'Error', message: 'said by a foreign listener', stack: undefined } });
      plantMetadata(svc, JSON.stringify(staleMetadata(process.pid, foreign.port)));
      // Only a peer that proved it holds the token may report a factory failure or mismatch
      // (a real daemon never sends either before the handshake completes): not reported as such.
      await expectLeftAlone(svc);
      expect(foreign.connections()).toBeGreaterThanOrEqual(1);
    });

    it('(h) a foreign listener claiming another protocol version (unproven) is not believed either', async () => {
      const svc = service<Counter>({ startTimeoutMs: 1000 });
      const foreign = await foreignListener({ t: 'challenge', v: 2, pkg: '9.9.9', nonce: randomBytes(32), proof: randomBytes(32) });
      plantMetadata(svc, JSON.stringify(staleMetadata(process.pid, foreign.port)));
      await expectLeftAlone(svc);
      const refused = await foreignListener({
        t: 'error',
        id: null,
        e: { code: 'ERR_PROTOCOL_VERSION', name: 'HandshakeError', message: 'unsigned' },
        v: 2,
        pid: process.pid,
      });
      const other = service<Counter>({ startTimeoutMs: 1000 });
      plantMetadata(other, JSON.stringify(staleMetadata(process.pid, refused.port)));
      await expectLeftAlone(other);
    });

    it('stale metadata is left alone while another live process holds the spawn lock', async () => {
      const svc = service<Counter>({ startTimeoutMs: 1000 });
      const holder = await lockHolder(svc);
      const content = JSON.stringify(staleMetadata(deadPid(), await freePort()));
      writeFileSync(svc.paths.metadata, content, { mode: 0o600 });
      const error = await svc.proxy().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ConnectionFailedError);
      expect((error as ConnectionFailedError).code).toBe('ERR_CONNECTION_FAILED');
      // Cleaning happens only under the lock: the holder may be starting a daemon right now.
      expect(readFileSync(svc.paths.metadata, 'utf8')).toBe(content);
      expect(existsSync(svc.paths.log)).toBe(false);
      await killAndReap(holder);
    });
  });

  it("a client waiting for a live holder's lock does not keep re-probing the metadata it already judged unusable", async () => {
    const svc = service<Counter>({ startTimeoutMs: 1000 });
    const holder = await lockHolder(svc);
    const foreign = await foreignListener('challenge');
    writeFileSync(svc.paths.metadata, JSON.stringify(reusedPidMetadata(foreign.port)), { mode: 0o600 });
    const error = await svc.proxy().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect((error as ConnectionFailedError).code).toBe('ERR_CONNECTION_FAILED');
    expect((error as Error).message).toContain('stuck in "locking"');
    // Judged stale on sight, and never probed while the lock is held; a timeout message a
    // person can read.
    expect(foreign.connections()).toBe(0);
    expect((error as Error).message.length).toBeLessThan(4000);
    await killAndReap(holder);
  });

  it('a SIGKILLed daemon: calls on the old proxy reject (no hang), a new proxy gets a new daemon', async () => {
    // Unsupervised (restart: false), so the old proxy stays failed; supervision has its own tests.
    const svc = service<Counter>({ restart: false });
    const old = await svc.proxy();
    expect(await old.inc()).toBe(1);
    const info = await svc.ping();
    const pending = old.hold(60_000, 'never').then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    await waitFor(async () => (await svc.ping()).running === 1, 'the hold call to be running');
    process.kill(info.pid, 'SIGKILL');
    const outcome = await Promise.race([pending, sleep(10_000).then(() => ({ hang: true }))]);
    expect(outcome).not.toHaveProperty('hang');
    expect(outcome).not.toHaveProperty('value');
    const { error } = outcome as { error: unknown };
    expect(error).toBeInstanceOf(DaemonConnectionError);
    expect((error as DaemonConnectionError).code).toBe('ERR_DAEMON_LOST');
    // A call issued after the loss rejects too, at once.
    const later = await old.inc().catch((e: unknown) => e);
    expect(later).toBeInstanceOf(DaemonConnectionError);
    expect((later as DaemonConnectionError).code).toBe('ERR_PROXY_CLOSED');
    await old[Symbol.asyncDispose]();
    await waitForExit(info.pid);

    // The dead daemon's metadata is still there until the next start replaces it.
    const leftover = readMetadata(svc.paths.metadata);
    expect(leftover.status === 'valid' && leftover.metadata.pid).toBe(info.pid);
    const pid = await expectRecovered(svc, info.pid);
    const read = readMetadata(svc.paths.metadata);
    expect(read.status === 'valid' && read.metadata.instanceId).not.toBe(info.instanceId);
    expect(read.status === 'valid' && read.metadata.pid).toBe(pid);
  });

  describe('a stale spawn lock is reclaimed', () => {
    it('(a) a lock directory left behind, 60 s old', async () => {
      const svc = service<Counter>();
      ensurePrivateDir(svc.paths.dir);
      mkdirSync(svc.paths.lock);
      const past = (Date.now() - 60_000) / 1000;
      utimesSync(svc.paths.lock, past, past);
      await expectRecovered(svc);
    });

    it('(b) the lock of a SIGKILLed holder turns stale and is reclaimed', async () => {
      const svc = service<Counter>({ startTimeoutMs: 15_000 });
      const holder = await lockHolder(svc);
      await killAndReap(holder);
      expect(existsSync(svc.paths.lock)).toBe(true);
      await expectRecovered(svc);
    });

    it('(c) while a live process holds the lock, proxy() times out naming what it was doing, and starts nothing', async () => {
      const svc = service<Counter>({ startTimeoutMs: 1000 });
      const holder = await lockHolder(svc);
      const error = await svc.proxy().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ConnectionFailedError);
      expect((error as ConnectionFailedError).code).toBe('ERR_CONNECTION_FAILED');
      expect((error as Error).message).toContain('1000 ms');
      expect((error as Error).message).toContain('locking');
      // It says who holds the lock, and that the holder runs.
      expect((error as Error).message).toContain(`is held by pid ${holder.pid}, which is starting the daemon`);
      expect(existsSync(svc.paths.metadata)).toBe(false);
      // Its standby (spawned ahead, see src/client/standby.ts) was dismissed: no daemon, no log line.
      expect(readFileSync(svc.paths.log, 'utf8')).toBe('');
      await until(() => processesMentioning(dirname(svc.paths.dir)).every((pid) => pid === holder.pid), 'the dismissed standby to exit');
      // The live holder's lock was not stolen.
      expect(existsSync(svc.paths.lock)).toBe(true);
      expect(holder.exitCode).toBeNull();
      await killAndReap(holder);
    });
  });

  it('an ipc daemon SIGKILLed leaves its socket file; the next start works and removes it', async () => {
    const svc = service<Counter>({ transport: 'ipc' });
    const old = await svc.proxy();
    expect(await old.inc()).toBe(1);
    const info = await svc.ping();
    expect(info.transport).toBe('ipc');
    const socketPath = info.address;
    expect(basename(socketPath)).toMatch(/^d-.*\.sock$/);
    process.kill(info.pid, 'SIGKILL');
    await waitForExit(info.pid);
    await old[Symbol.asyncDispose]();
    expect(lstatSync(socketPath).isSocket()).toBe(true);

    await expectRecovered(svc, info.pid);
    expect(existsSync(socketPath)).toBe(false);
    const read = readMetadata(svc.paths.metadata);
    expect(read.status === 'valid' && read.metadata.transport).toBe('ipc');
    const sockets = readdirSync(svc.paths.dir).filter((entry) => entry.endsWith('.sock'));
    expect(sockets).toEqual([basename(read.status === 'valid' ? read.metadata.path! : '')]);
  });

  it('a stale metadata.json.<x>.tmp left by an interrupted write is removed by the recovery', async () => {
    const svc = service<Counter>();
    ensurePrivateDir(svc.paths.dir);
    const temp = `${svc.paths.metadata}.99999.${randomBytes(6).toString('hex')}.tmp`;
    writeFileSync(temp, '{"pid": 99999, "instan', { mode: 0o600 });
    await expectRecovered(svc);
    expect(existsSync(temp)).toBe(false);
    expect(readdirSync(svc.paths.dir).filter((entry) => entry.endsWith('.tmp'))).toEqual([]);
  });
});
