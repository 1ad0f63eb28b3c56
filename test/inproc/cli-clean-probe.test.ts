/**
 * What the CLI finds in a runtime dir and what `clean` keeps (src/cli/probe.ts,
 * src/cli/clean.ts), on runtime dirs the test makes in a fresh temp root: a record of a live
 * pid with no token, a malformed token, nothing listening, a listener that never answers, a
 * draining daemon, a live pid in the backup record or in daemon.log's last line, a dir that is
 * not one. No daemon is started: the "live pid" is this test process's.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cleanOne, runningLoggedDaemon } from '../../src/cli/clean.js';
import { DaemonUnavailable, openDaemon, probe, singletonNames } from '../../src/cli/probe.js';
import { backupPathOf, writeMetadata } from '../../src/runtime/metadata.js';
import { runtimePaths } from '../../src/runtime/paths.js';
import type { DaemonMetadata, RuntimePaths } from '../../src/types.js';
import { fakeRecord } from '../support/records.js';
import { makeRoot, removeRoot } from '../support/in-process.js';

/** A pid that was a process and is no more. */
const DEAD = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }));

let root: string;
const servers: Server[] = [];
beforeEach(() => {
  root = makeRoot('lbs-clean-');
});
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  removeRoot(root);
});

const record = fakeRecord;

/** A runtime dir `name` with `metadata` recorded (none when undefined). */
function dir(name: string, metadata?: DaemonMetadata): RuntimePaths {
  const paths = runtimePaths(root, name);
  mkdirSync(paths.dir, { mode: 0o700 });
  if (metadata) writeMetadata(paths.metadata, metadata);
  return paths;
}

function token(paths: RuntimePaths, bytes = Buffer.from('ab'.repeat(32))): void {
  writeFileSync(paths.token, bytes, { mode: 0o600 });
}

async function unavailable(paths: RuntimePaths, timeoutMs?: number): Promise<DaemonUnavailable> {
  const error = await openDaemon(paths, timeoutMs).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(DaemonUnavailable);
  return error as DaemonUnavailable;
}

describe('openDaemon and probe: what a runtime dir holds', () => {
  it('no record: absent; a dead pid: stale, with the record', async () => {
    const empty = dir('empty');
    expect(await unavailable(empty)).toMatchObject({ status: 'absent', message: 'no daemon is running (no metadata.json)', metadata: undefined });
    const gone = dir('gone', record(DEAD));
    const error = await unavailable(gone);
    expect(error).toMatchObject({ status: 'stale', message: `its daemon (pid ${DEAD}) is gone; metadata.json is stale` });
    expect(error.metadata?.pid).toBe(DEAD);
  });

  it('a draining daemon is draining, before any token is read', async () => {
    const paths = dir('drain', record(process.pid, { draining: true } as Partial<DaemonMetadata>));
    expect(await unavailable(paths)).toMatchObject({
      status: 'draining',
      message: `pid ${process.pid} is draining: it accepts nothing new and exits within its drain deadline`,
    });
  });

  it('a live pid without a token, or with a malformed one: unresponsive, saying why', async () => {
    const paths = dir('live', record(process.pid));
    expect(await unavailable(paths)).toMatchObject({ status: 'unresponsive', message: `pid ${process.pid} runs, but there is no token file to authenticate with` });
    token(paths, Buffer.alloc(5));
    const error = await unavailable(paths);
    expect(error.status).toBe('unresponsive');
    expect(error.message).toMatch(new RegExp(`^pid ${process.pid} runs, but Token file .* is malformed`));
    expect(error.cause).toBeInstanceOf(Error);
  });

  it('nothing listens at the recorded address: stale, naming the address', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    await new Promise((resolve) => server.close(resolve));
    const paths = dir('closed', record(process.pid, { port }));
    token(paths);
    const error = await unavailable(paths);
    expect(error).toMatchObject({ status: 'stale', message: `nothing listens at 127.0.0.1:${port}: pid ${process.pid} is not its daemon any more` });
    expect((error.cause as Error).cause).toMatchObject({ code: 'ECONNREFUSED' });
    // A socket path that does not exist is stale too.
    const ipc = dir('ipc', record(process.pid, { transport: 'ipc', host: undefined, port: undefined, path: join(root, 'ipc', 'd-0.sock') } as Partial<DaemonMetadata>));
    token(ipc);
    expect(await unavailable(ipc)).toMatchObject({
      status: 'stale',
      message: expect.stringMatching(/^nothing listens at .*d-0\.sock: pid \d+ is not its daemon any more$/),
    });
  });

  it('a listener that never answers: unresponsive; probe reports what it found, with the record', async () => {
    const server = createServer(() => {});
    servers.push(server);
    const sockets: import('node:net').Socket[] = [];
    server.on('connection', (socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const paths = dir('mute', record(process.pid, { port }));
    token(paths);
    const error = await unavailable(paths, 100);
    expect(error).toMatchObject({
      status: 'unresponsive',
      message: `pid ${process.pid} did not answer: No handshake with the daemon at 127.0.0.1:${port} within 100 ms (challenge)`,
    });
    for (const socket of sockets) socket.destroy();
    dir('drain', record(process.pid, { draining: true } as Partial<DaemonMetadata>));
    const found = await probe(root, 'drain');
    expect(found).toMatchObject({ name: 'drain', status: 'draining', info: undefined, startInProgress: false, detail: expect.stringMatching(/ is draining: /) });
    expect(found.metadata?.pid).toBe(process.pid);
    expect(found.paths.dir).toBe(runtimePaths(root, 'drain').dir);
  });

  it('singletonNames lists the dirs under a root, sorted, and none for a root that does not exist', () => {
    dir('b');
    dir('a');
    writeFileSync(join(root, 'stray-file'), '');
    expect(singletonNames(root)).toEqual(['a', 'b']);
    expect(singletonNames(join(root, 'nowhere'))).toEqual([]);
  });
});

describe('clean: what it keeps and why', () => {
  it('a file where a dir should be, and a dir of files that are not runtime files (the first three named)', async () => {
    writeFileSync(join(root, 'plain'), '');
    expect(await cleanOne(root, 'plain')).toMatchObject({ removed: false, reason: 'not a directory' });
    const paths = dir('mine');
    for (const name of ['d.txt', 'a.txt', 'c.txt', 'b.txt']) writeFileSync(join(paths.dir, name), '');
    writeFileSync(paths.log, '');
    const verdict = await cleanOne(root, 'mine');
    expect(verdict.removed).toBe(false);
    expect(verdict.reason).toMatch(/^holds files that are not runtime files \(\w\.txt, \w\.txt, \w\.txt, \.\.\.\)$/);
    rmSync(join(paths.dir, 'd.txt'));
    expect((await cleanOne(root, 'mine')).reason).toMatch(/^holds files that are not runtime files \(\w\.txt, \w\.txt, \w\.txt\)$/);
    symlinkSync(paths.dir, join(root, 'link'));
    expect(await cleanOne(root, 'link')).toMatchObject({ removed: false, reason: 'not a directory' });
  });

  it('keeps a draining daemon and a live pid without a token, saying why', async () => {
    dir('drain', record(process.pid, { draining: true } as Partial<DaemonMetadata>));
    expect(await cleanOne(root, 'drain')).toMatchObject({
      removed: false,
      reason: `pid ${process.pid} is draining: it accepts nothing new and exits within its drain deadline`,
    });
    dir('live', record(process.pid));
    expect(await cleanOne(root, 'live')).toMatchObject({ removed: false, reason: `pid ${process.pid} runs, but there is no token file to authenticate with` });
    expect(existsSync(runtimePaths(root, 'drain').dir) && existsSync(runtimePaths(root, 'live').dir)).toBe(true);
  });

  it('keeps a dir whose backup record names a live pid; removes it once that pid is dead', async () => {
    const paths = dir('backup', record(DEAD));
    writeMetadata(backupPathOf(paths.metadata), record(process.pid));
    expect(await cleanOne(root, 'backup')).toMatchObject({ removed: false, reason: `pid ${process.pid} from metadata.backup.json still runs` });
    writeMetadata(backupPathOf(paths.metadata), record(DEAD));
    expect(await cleanOne(root, 'backup')).toMatchObject({ removed: true, reason: `its daemon (pid ${DEAD}) is gone; metadata.json is stale` });
    expect(existsSync(paths.dir)).toBe(false);
  });

  it('keeps a dir whose daemon.log was last written by a live daemon; not once it logged its exit', async () => {
    const paths = dir('logged');
    writeFileSync(paths.log, `[daemon ${DEAD}] started\n[daemon ${process.pid}] serving\n`);
    expect(runningLoggedDaemon(paths.log)).toBe(process.pid);
    expect(await cleanOne(root, 'logged')).toMatchObject({ removed: false, reason: `its daemon (pid ${process.pid}, from daemon.log) still runs` });
    writeFileSync(paths.log, `[daemon ${process.pid}] serving\n[daemon ${process.pid}] exit 0\n`);
    expect(runningLoggedDaemon(paths.log)).toBeUndefined();
    writeFileSync(paths.log, `[daemon ${process.pid}] serving\n[daemon ${DEAD}] serving\n`);
    expect(runningLoggedDaemon(paths.log)).toBeUndefined();
    writeFileSync(paths.log, 'no daemon line\n');
    expect(runningLoggedDaemon(paths.log)).toBeUndefined();
    expect(runningLoggedDaemon(join(paths.dir, 'missing.log'))).toBeUndefined();
    // Only the last 16 KiB are read: a live daemon's line before them is not seen.
    writeFileSync(paths.log, `[daemon ${process.pid}] serving\n${'x'.repeat(16 * 1024)}\n`);
    expect(runningLoggedDaemon(paths.log)).toBeUndefined();
    writeFileSync(paths.log, `${'x'.repeat(16 * 1024)}\n[daemon ${process.pid}] serving\n`);
    expect(runningLoggedDaemon(paths.log)).toBe(process.pid);
    writeFileSync(paths.log, `[daemon ${process.pid}] exit 0\n`);
    expect(await cleanOne(root, 'logged')).toMatchObject({ removed: true, reason: 'no daemon is running (no metadata.json)' });
  });
});
