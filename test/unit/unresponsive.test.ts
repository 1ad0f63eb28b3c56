/**
 * What a failed connect to a recorded daemon means (src/client/unresponsive.ts), judged by
 * real processes: this test's own (alive, its start time known), one that has exited, and a
 * child the test keeps alive and then kills.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClientOutput } from '../../machines/client.machine.js';
import type { StartPlan } from '../../src/client/plan.js';
import { drainedExit, drainingError, goneDaemonError, unansweredOrStale, unresponsiveError } from '../../src/client/unresponsive.js';
import { ConnectionFailedError, DaemonConnectionError, HandshakeError, LoopbackSingletonError } from '../../src/errors.js';
import { backupPathOf, writeMetadata } from '../../src/runtime/metadata.js';
import { processStartTime } from '../../src/runtime/process.js';
import { fakeRecord } from '../support/records.js';
import { deadPid as exitedPid } from '../support/stale.js';

const paths = { dir: '/run/svc', metadata: '/run/svc/metadata.json', token: '/run/svc/token', lock: '/run/svc/spawn.lock', log: '/run/svc/daemon.log' };
const plan = { name: 'svc', paths, options: { startTimeoutMs: 700 } } as unknown as StartPlan;

const ourStart = processStartTime(process.pid);
/** This process, as a record names a live daemon. */
const live = fakeRecord(process.pid, { startTime: ourStart });
/** A pid whose process has exited. */
const deadPid = exitedPid();

describe('goneDaemonError', () => {
  it('is undefined while the recorded process runs', () => {
    expect(goneDaemonError(plan, live)).toBeUndefined();
  });

  it('a dead process makes the record stale', () => {
    const error = goneDaemonError(plan, fakeRecord(deadPid));
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect(error!.message).toBe(`The daemon recorded in /run/svc/metadata.json (pid ${deadPid}) is not running`);
  });

  it('a live pid with another start time is another process: stale too', () => {
    const error = goneDaemonError(plan, fakeRecord(process.pid, { startTime: 'another-boot:1' }));
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect(error!.message).toBe(`The daemon recorded in /run/svc/metadata.json (pid ${process.pid}) is gone: that pid now belongs to another process`);
  });
});

describe('drainingError', () => {
  it('names a draining daemon, for the client to wait on', () => {
    const error = drainingError(plan, fakeRecord(77, { draining: true }));
    expect(error).toBeInstanceOf(DaemonConnectionError);
    expect(error!.code).toBe('ERR_DAEMON_DRAINING');
    expect(error!.message).toBe('The daemon "svc" (pid 77) is draining: it accepts nothing new and exits within its drain deadline');
  });

  it('is undefined for a record not marked draining', () => {
    expect(drainingError(plan, fakeRecord(77))).toBeUndefined();
    expect(drainingError(plan, fakeRecord(77, { draining: false }))).toBeUndefined();
  });
});

describe('unansweredOrStale', () => {
  const refused = new Error('connect ECONNREFUSED 127.0.0.1:1');

  it('a live daemon that did not answer is ERR_DAEMON_UNRESPONSIVE, the failure as its cause', async () => {
    const verdict = (await unansweredOrStale(plan, live, refused, undefined)) as ConnectionFailedError;
    expect(verdict).toBeInstanceOf(ConnectionFailedError);
    expect(verdict.code).toBe('ERR_DAEMON_UNRESPONSIVE');
    expect(verdict.message).toBe(`The daemon "svc" (pid ${process.pid}) is running but did not complete a handshake: connect ECONNREFUSED 127.0.0.1:1`);
    expect(verdict.cause).toBe(refused);
  });

  it('a thrown value that is no Error is named as it is', async () => {
    const verdict = (await unansweredOrStale(plan, live, 'reset by peer', new AbortController().signal)) as ConnectionFailedError;
    expect(verdict.code).toBe('ERR_DAEMON_UNRESPONSIVE');
    expect(verdict.message).toBe(`The daemon "svc" (pid ${process.pid}) is running but did not complete a handshake: reset by peer`);
  });

  it('a dead daemon leaves the failure as it was: the record is stale', async () => {
    expect(await unansweredOrStale(plan, fakeRecord(deadPid), refused, undefined)).toBe(refused);
    expect(await unansweredOrStale(plan, fakeRecord(deadPid), undefined, undefined)).toBeUndefined();
  });

  it('a failure that is no value at all is named as such', async () => {
    const verdict = (await unansweredOrStale(plan, live, null, undefined)) as ConnectionFailedError;
    expect(verdict.code).toBe('ERR_DAEMON_UNRESPONSIVE');
    expect(verdict.message).toBe(`The daemon "svc" (pid ${process.pid}) is running but did not complete a handshake: null`);
    expect(verdict.cause).toBeNull();
  });

  it("the daemon's own answer (another protocol version) is not unresponsiveness", async () => {
    const answered = new HandshakeError('protocol 9 is not spoken here', { code: 'ERR_PROTOCOL_VERSION' });
    expect(await unansweredOrStale(plan, live, answered, undefined)).toBe(answered);
  });

  it('an attempt already aborted judges nothing', async () => {
    const aborted = new AbortController();
    aborted.abort();
    expect(await unansweredOrStale(plan, live, refused, aborted.signal)).toBe(refused);
  });

  it("a connect that failed for want of file descriptors is this client's fault, named with the daemon's address", async () => {
    const emfile = Object.assign(new Error('connect EMFILE'), { code: 'EMFILE' });
    const tcp = (await unansweredOrStale(plan, live, emfile, undefined)) as LoopbackSingletonError;
    expect(tcp).toBeInstanceOf(LoopbackSingletonError);
    expect(tcp).not.toBeInstanceOf(ConnectionFailedError);
    expect(tcp.cause).toBe(emfile);
    expect(tcp.message).toMatch(/^Could not open a connection to the daemon "svc" at 127\.0\.0\.1:1 \(connect EMFILE\): /);
    const ipc = fakeRecord(process.pid, { transport: 'ipc', path: '/run/svc/daemon.sock', host: undefined, port: undefined });
    const viaIpc = (await unansweredOrStale(plan, ipc, emfile, undefined)) as LoopbackSingletonError;
    expect(viaIpc.message).toMatch(/^Could not open a connection to the daemon "svc" at \/run\/svc\/daemon\.sock \(connect EMFILE\): /);
  });
});

describe('unresponsiveError', () => {
  const output = (extra: Partial<ClientOutput>): ClientOutput => ({
    connection: undefined,
    error: undefined,
    timedOutIn: undefined,
    trail: [],
    unanswered: 0,
    metadata: undefined,
    spawned: undefined,
    ...extra,
  });
  const unresponsive = new ConnectionFailedError('The daemon "svc" (pid 9) is running but did not complete a handshake: timeout', {
    code: 'ERR_DAEMON_UNRESPONSIVE',
  });
  const advice =
    '. It was left running, with its state. Likely cause: a hosted method keeping its event loop busy on the CPU ' +
    '(a long synchronous computation), or a stopped process (SIGSTOP, a debugger). ' +
    "Raise startTimeoutMs, move long CPU work off the daemon's event loop (a worker thread), " +
    'or stop it with `loopback-singleton stop svc --force`. See /run/svc/daemon.log';

  it('a daemon that kept not answering: how often it was tried, and what to do', () => {
    const error = unresponsiveError(plan, output({ error: unresponsive, unanswered: 3 }));
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect(error!.code).toBe('ERR_DAEMON_UNRESPONSIVE');
    expect(error!.cause).toBe(unresponsive);
    expect(error!.message).toBe(`${unresponsive.message}; tried 3 time(s) within startTimeoutMs (700 ms)${advice}`);
  });

  it('a budget spent connecting to a live daemon', () => {
    const error = unresponsiveError(plan, output({ timedOutIn: '"connecting"', metadata: live }));
    expect(error!.code).toBe('ERR_DAEMON_UNRESPONSIVE');
    expect(error!.message).toBe(`The daemon "svc" (pid ${process.pid}) is running but did not complete a handshake within startTimeoutMs (700 ms)${advice}`);
  });

  it('a budget spent waiting for a draining daemon to exit', () => {
    const draining = drainingError(plan, fakeRecord(9, { draining: true }))!;
    const error = unresponsiveError(plan, output({ timedOutIn: '"awaitingExit"', error: draining }));
    expect(error!.code).toBe('ERR_DAEMON_UNRESPONSIVE');
    expect(error!.cause).toBe(draining);
    expect(error!.message).toBe(
      `${draining.message}; it did not exit within startTimeoutMs (700 ms), and no daemon is started beside it. ` +
        'Raise startTimeoutMs above its drainTimeoutMs, or stop it with `loopback-singleton stop svc --force`. See /run/svc/daemon.log',
    );
    const bare = unresponsiveError(plan, output({ timedOutIn: '"awaitingExit"' }));
    expect(bare!.message).toMatch(/^The daemon "svc" is draining; it did not exit within startTimeoutMs \(700 ms\)/);
  });

  it('is undefined for any other ending', () => {
    // Unanswered tries, but the last failure was something else.
    expect(unresponsiveError(plan, output({ error: new ConnectionFailedError('refused'), unanswered: 2 }))).toBeUndefined();
    // The last failure says unresponsive, but no try went unanswered.
    expect(unresponsiveError(plan, output({ error: unresponsive, unanswered: 0 }))).toBeUndefined();
    // Out of budget while connecting, to a daemon whose process is gone.
    expect(unresponsiveError(plan, output({ timedOutIn: '"connecting"', metadata: fakeRecord(deadPid) }))).toBeUndefined();
    expect(unresponsiveError(plan, output({ timedOutIn: '"connecting"' }))).toBeUndefined();
    expect(unresponsiveError(plan, output({ timedOutIn: '"spawning"', metadata: live }))).toBeUndefined();
    // Unanswered tries, and no failure recorded at all.
    expect(unresponsiveError(plan, output({ unanswered: 2 }))).toBeUndefined();
  });
});

describe('drainedExit', () => {
  let dir: string;
  let runtime: typeof paths;
  let child: ChildProcess | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lbs-drained-'));
    runtime = { ...paths, dir, metadata: join(dir, 'metadata.json') };
  });
  afterEach(() => {
    child?.kill('SIGKILL');
    child = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** A process that lives until the test kills it, and its record marked draining. */
  async function drainingChild() {
    child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await new Promise((resolve) => child!.once('spawn', resolve));
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    return { record: fakeRecord(child.pid!, { startTime: processStartTime(child.pid!), draining: true, instanceId: 'c'.repeat(32) }), exited };
  }

  async function pendingAfterPolls(promise: Promise<void>): Promise<boolean> {
    let done = false;
    void promise.then(() => (done = true));
    // Several of its polls (every 20 ms).
    await new Promise((resolve) => setTimeout(resolve, 120));
    return !done;
  }

  it('waits for a draining daemon to exit, even once its record is gone', async () => {
    const { record, exited } = await drainingChild();
    writeMetadata(runtime.metadata, record);
    const waiting = drainedExit(runtime, new AbortController().signal);
    expect(await pendingAfterPolls(waiting)).toBe(true);
    // The daemon removes its record just before it exits: that is not its exit.
    rmSync(runtime.metadata);
    expect(await pendingAfterPolls(waiting)).toBe(true);
    child!.kill('SIGKILL');
    await exited;
    await waiting;
  });

  it("looks at the record's copy too", async () => {
    const { record, exited } = await drainingChild();
    writeMetadata(backupPathOf(runtime.metadata), record);
    const waiting = drainedExit(runtime, new AbortController().signal);
    expect(await pendingAfterPolls(waiting)).toBe(true);
    child!.kill('SIGKILL');
    await exited;
    await waiting;
  });

  it('is done at once when no record names a live draining daemon, or when aborted', async () => {
    await drainedExit(runtime, new AbortController().signal);
    const { record } = await drainingChild();
    // Not draining: nothing to wait for.
    writeMetadata(runtime.metadata, { ...record, draining: undefined });
    await drainedExit(runtime, new AbortController().signal);
    writeMetadata(runtime.metadata, record);
    const aborted = new AbortController();
    aborted.abort();
    await drainedExit(runtime, aborted.signal);
    // Still alive: only the abort ended the wait.
    expect(child!.exitCode).toBeNull();
  });
});
