/**
 * The daemon's drain steps (src/daemon/drain.ts) on stand-ins for what they act on: the
 * record marked draining (real files in a temp dir), and each step's effect on the server,
 * the mailbox and the connections, in the order the daemon statechart runs them.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Channel } from '../../src/daemon/channel.js';
import { DrainSteps, markRecordDraining, type DrainHost } from '../../src/daemon/drain.js';
import type { Mailbox } from '../../src/daemon/mailbox.js';
import { writeMetadata } from '../../src/runtime/metadata.js';
import { deferred } from '../support/machines.js';
import { fakeRecord } from '../support/records.js';

const OURS = 'a'.repeat(32);

describe('markRecordDraining', () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'lbs-drain-'));
    path = join(dir, 'metadata.json');
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_700_000_000_000);
  });
  afterEach(() => {
    vi.useRealTimers();
    rmSync(dir, { recursive: true, force: true });
  });
  const stored = () => JSON.parse(readFileSync(path, 'utf8'));

  it('rewrites its own record marked draining, since when, and returns it', () => {
    const record = fakeRecord(process.pid, { instanceId: OURS });
    writeMetadata(path, record);
    const log = vi.fn();
    const marked = markRecordDraining(path, OURS, record, log);
    expect(marked).toEqual({ ...record, draining: true, drainingSince: 1_700_000_000_000 });
    expect(stored()).toEqual(marked);
    expect(log).not.toHaveBeenCalled();
  });

  it('writes the marked record where none is, or where the file is not a valid record', () => {
    const record = fakeRecord(process.pid, { instanceId: OURS });
    markRecordDraining(path, OURS, record, vi.fn());
    expect(stored()).toMatchObject({ instanceId: OURS, draining: true });
    writeFileSync(path, '{ not json');
    markRecordDraining(path, OURS, record, vi.fn());
    expect(stored()).toMatchObject({ instanceId: OURS, draining: true });
  });

  it("leaves a successor's record alone, and still returns its own marked", () => {
    const successor = fakeRecord(4242, { instanceId: 'b'.repeat(32) });
    writeMetadata(path, successor);
    const marked = markRecordDraining(path, OURS, fakeRecord(process.pid, { instanceId: OURS }), vi.fn());
    expect(marked).toMatchObject({ instanceId: OURS, draining: true });
    expect(stored()).toEqual(successor);
  });

  it('returns undefined, and writes nothing, for a daemon that never published a record', () => {
    expect(markRecordDraining(path, OURS, undefined, vi.fn())).toBeUndefined();
    expect(() => readFileSync(path)).toThrow(/ENOENT/);
  });

  it('logs a write that fails, and returns the marked record all the same', () => {
    const missing = join(dir, 'gone', 'metadata.json');
    const log = vi.fn();
    const marked = markRecordDraining(missing, OURS, fakeRecord(process.pid, { instanceId: OURS }), log);
    expect(marked).toMatchObject({ draining: true, drainingSince: 1_700_000_000_000 });
    expect(log).toHaveBeenCalledTimes(1);
    expect(log.mock.calls[0]![0]).toMatch(/^could not mark metadata draining: ENOENT/);
  });
});

/** A mailbox stand-in: each step's call recorded, each promise the test's to settle. */
function fakeMailbox(running: string | undefined, queued: number) {
  const closed = deferred();
  const idle = deferred();
  const calls: string[] = [];
  const mailbox = {
    runningMethod: running,
    queued,
    close: (force: boolean) => {
      calls.push(`close(${force})`);
      return closed.promise;
    },
    idle: () => {
      calls.push('idle');
      return idle.promise;
    },
    disposeObject: async () => {
      calls.push('dispose');
      return 'disposed in 1 ms';
    },
  };
  return { mailbox: mailbox as unknown as Mailbox, calls, closed, idle };
}

/** A server stand-in: listening or not; close() records its callback. */
function fakeServer(listening: boolean) {
  const closers: Array<() => void> = [];
  const server = { listening, close: (done: () => void) => closers.push(done) };
  return { server: server as unknown as Server, closers };
}

function host(parts: Partial<{ server: Server; mailbox: Mailbox; channels: Channel[]; retired: Promise<void>[] }> = {}) {
  const dropped: string[] = [];
  const drainHost: DrainHost = {
    server: () => parts.server,
    mailbox: () => parts.mailbox,
    channels: () => parts.channels ?? [],
    retired: parts.retired ?? [],
    dropHandshakes: (reason) => dropped.push(reason),
  };
  return { drainHost, dropped };
}

/** Whether `promise` has settled by the time already-queued callbacks ran. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('DrainSteps', () => {
  it('closing the intake closes a listening server, drops the handshakes and closes the mailbox as asked', async () => {
    const { server, closers } = fakeServer(true);
    const { mailbox, calls, closed } = fakeMailbox(undefined, 0);
    const { drainHost, dropped } = host({ server, mailbox });
    const steps = new DrainSteps(drainHost);
    steps.closeIntake(false);
    expect(closers).toHaveLength(1);
    expect(dropped).toEqual(['daemon is draining']);
    expect(calls).toEqual(['close(false)']);
    // Every accepted call is answered once the mailbox has closed, not before.
    const answered = steps.answerCalls();
    expect(await settled(answered)).toBe(false);
    closed.resolve();
    expect(await settled(answered)).toBe(true);
  });

  it('a forced drain closes the mailbox forced; force() later escalates a graceful one', () => {
    const forced = fakeMailbox('slow', 2);
    new DrainSteps(host({ mailbox: forced.mailbox }).drainHost).closeIntake(true);
    expect(forced.calls).toEqual(['close(true)']);
    const graceful = fakeMailbox('slow', 2);
    const steps = new DrainSteps(host({ mailbox: graceful.mailbox }).drainHost);
    steps.closeIntake(false);
    steps.force();
    expect(graceful.calls).toEqual(['close(false)', 'close(true)']);
  });

  it('closing the connections closes each channel and waits for the server and every retired one', async () => {
    const { server, closers } = fakeServer(true);
    const channels = [{ close: vi.fn() }, { close: vi.fn() }] as unknown as Channel[];
    const retired = deferred();
    const steps = new DrainSteps(host({ server, channels, retired: [retired.promise] }).drainHost);
    steps.closeIntake(false);
    const closing = steps.closeConnections();
    for (const channel of channels) expect(channel.close).toHaveBeenCalledTimes(1);
    expect(await settled(closing)).toBe(false);
    closers[0]!();
    expect(await settled(closing)).toBe(false);
    retired.resolve();
    expect(await settled(closing)).toBe(true);
  });

  it('a server that is not listening (or none) is not closed, and holds nothing up', async () => {
    const { server, closers } = fakeServer(false);
    const steps = new DrainSteps(host({ server }).drainHost);
    steps.closeIntake(false);
    expect(closers).toHaveLength(0);
    expect(await settled(steps.closeConnections())).toBe(true);
    const none = new DrainSteps(host().drainHost);
    none.closeIntake(false);
    expect(await settled(none.closeConnections())).toBe(true);
  });

  it('the running call is waited for, and the object disposed, through the mailbox the drain began with', async () => {
    const { mailbox, calls, idle } = fakeMailbox('slow', 0);
    const steps = new DrainSteps(host({ mailbox }).drainHost);
    steps.closeIntake(false);
    const finished = steps.finishRunning();
    expect(await settled(finished)).toBe(false);
    idle.resolve();
    expect(await settled(finished)).toBe(true);
    expect(await steps.dispose()).toBe('disposed in 1 ms');
    expect(calls).toEqual(['close(false)', 'idle', 'dispose']);
  });

  it('without a mailbox (the object never loaded) every mailbox step is done at once', async () => {
    const steps = new DrainSteps(host().drainHost);
    steps.closeIntake(true);
    steps.force();
    expect(await settled(steps.answerCalls())).toBe(true);
    expect(await settled(steps.finishRunning())).toBe(true);
    expect(await steps.dispose()).toBeUndefined();
  });

  it('a drain its deadline cut logs the calls it abandons', () => {
    const line = (running: string | undefined, queued: number) => new DrainSteps(host({ mailbox: fakeMailbox(running, queued).mailbox }).drainHost).abandoned(500);
    expect(line('compute', 3)).toBe(
      'drain deadline passed (drainTimeoutMs 500 ms): exiting with 1 running call (compute) and 3 queued call(s) abandoned; their callers get ERR_DAEMON_LOST',
    );
    expect(line('compute', 0)).toBe('drain deadline passed (drainTimeoutMs 500 ms): exiting with 1 running call (compute) abandoned; their callers get ERR_DAEMON_LOST');
    expect(line(undefined, 2)).toBe('drain deadline passed (drainTimeoutMs 500 ms): exiting with 2 queued call(s) abandoned; their callers get ERR_DAEMON_LOST');
    expect(line(undefined, 0)).toBe('drain deadline passed (drainTimeoutMs 500 ms): exiting before the drain finished');
    expect(new DrainSteps(host().drainHost).abandoned(250)).toBe('drain deadline passed (drainTimeoutMs 250 ms): exiting before the drain finished');
  });
});
