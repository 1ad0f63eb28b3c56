/**
 * What a failed start attempt rejects with (src/client/attempt-failure.ts), from the
 * client statechart's output: the error that ended it, the unresponsive daemon it waited on,
 * or the timeout naming where it was stuck, with the last error met on the way as its cause.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ClientOutput } from '../../machines/client.machine.js';
import type { StartAttempt, StartPlan } from '../../src/client/plan.js';
import type { DaemonLaunch } from '../../src/client/spawn.js';
import { attemptFailure } from '../../src/client/attempt-failure.js';
import { drainingError } from '../../src/client/unresponsive.js';
import { ConnectionFailedError, DaemonConnectionError, FactoryError, HandshakeError } from '../../src/errors.js';
import { describeSpawnLock } from '../../src/runtime/lock.js';
import { fakeRecord } from '../support/records.js';

const dir = mkdtempSync(join(tmpdir(), 'lbs-attempt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const paths = { dir, metadata: join(dir, 'metadata.json'), token: join(dir, 'token'), lock: join(dir, 'spawn.lock'), log: join(dir, 'daemon.log') };
const plan = { name: 'svc', paths, options: { startTimeoutMs: 700 } } as unknown as StartPlan;
const attempt: StartAttempt = { plan, deadline: 0, standby: undefined };

function output(fields: Partial<ClientOutput>): ClientOutput {
  return { connection: undefined, error: undefined, timedOutIn: undefined, trail: [], unanswered: 0, metadata: undefined, spawned: undefined, ...fields };
}

/** A draining daemon the attempt waited on, which has exited since. */
const draining = drainingError(plan, fakeRecord(77, { draining: true }))!;

describe('attemptFailure', () => {
  it('at the deadline, an earlier draining daemon since gone is the cause of a timeout, not the error', () => {
    // Many starts on a loaded machine: the attempt found its daemon draining, waited for it to
    // exit, started over and ran out of time discovering. It failed to start: ERR_CONNECTION_FAILED.
    const trail = ['metadata: pid 77', 'draining: the daemon "svc" (pid 77) is draining'];
    const error = attemptFailure(attempt, output({ error: draining, timedOutIn: '"discovering"', trail }));
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect((error as ConnectionFailedError).code).toBe('ERR_CONNECTION_FAILED');
    expect(error.message).toBe(`Could not start or reach the daemon "svc" within 700 ms (stuck in "discovering"; ${trail.join('; ')}). See ${paths.log}`);
    expect(error.cause).toBe(draining);
  });

  it('at the deadline with nothing met on the way: the timeout, with no cause', () => {
    const error = attemptFailure(attempt, output({ timedOutIn: '"discovering"' }));
    expect(error.message).toBe(`Could not start or reach the daemon "svc" within 700 ms (stuck in "discovering"; ). See ${paths.log}`);
    expect(error.cause).toBeUndefined();
  });

  it('at the deadline while waiting for a draining daemon to exit: the unresponsive verdict', () => {
    const error = attemptFailure(attempt, output({ error: draining, timedOutIn: '"awaitingExit"' }));
    expect((error as ConnectionFailedError).code).toBe('ERR_DAEMON_UNRESPONSIVE');
    expect(error.message).toMatch(/^The daemon "svc" \(pid 77\) is draining: .*; it did not exit within startTimeoutMs \(700 ms\)/);
    expect(error.cause).toBe(draining);
  });

  it('at the deadline while its spawned daemon was starting: names that daemon, killed', () => {
    const spawned = { pid: 4242 } as DaemonLaunch;
    const error = attemptFailure(attempt, output({ timedOutIn: '{"locked":"awaitingReady"}', spawned, trail: ['metadata: absent'] }));
    expect(error.message).toBe(
      'Could not start or reach the daemon "svc" within 700 ms (stuck in {"locked":"awaitingReady"}: the daemon it spawned (pid 4242) was still starting ' +
        `(creating the object: the factory had not returned, or binding its socket) and was killed; metadata: absent). See ${paths.log}`,
    );
    // Without a spawned daemon there is none to name.
    expect(attemptFailure(attempt, output({ timedOutIn: '{"locked":"awaitingReady"}' })).message).toContain('(stuck in {"locked":"awaitingReady"}; ).');
  });

  it('at the deadline waiting for the lock: says who holds it', () => {
    const error = attemptFailure(attempt, output({ timedOutIn: '"locking"' }));
    expect(error.message).toBe(`Could not start or reach the daemon "svc" within 700 ms (stuck in "locking": ${describeSpawnLock(paths)}; ). See ${paths.log}`);
  });

  it('a long trail: its last 12 steps, after an ellipsis', () => {
    const trail = Array.from({ length: 14 }, (_, i) => `step ${i}`);
    const error = attemptFailure(attempt, output({ timedOutIn: '"waiting"', trail }));
    expect(error.message).toContain(`(stuck in "waiting"; ...; ${trail.slice(2).join('; ')}).`);
    const twelve = trail.slice(0, 12);
    expect(attemptFailure(attempt, output({ timedOutIn: '"waiting"', trail: twelve })).message).toContain(`(stuck in "waiting"; ${twelve.join('; ')}).`);
  });

  it('ended by an error of this package (a factory error): that error itself', () => {
    const factory = new FactoryError('the factory threw: boom');
    expect(attemptFailure(attempt, output({ error: factory, trail: ['metadata: absent'] }))).toBe(factory);
  });

  it.each([
    ['ERR_DAEMON_DRAINING', 'the daemon "svc" (pid 77) is draining'],
    ['ERR_DAEMON_LOST', 'The connection to the daemon was lost'],
    ['ERR_DAEMON_CONNECTION', 'The connection is closed'],
  ])("ended by how its last spawned daemon's connection ended (%s): a start failure with it as the cause", (code, message) => {
    const cause = new DaemonConnectionError(message, { code });
    const error = attemptFailure(attempt, output({ error: cause, trail: ['metadata: absent', 'spawned: pid 9'] }));
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect((error as ConnectionFailedError).code).toBe('ERR_CONNECTION_FAILED');
    expect(error.message).toBe(`Could not start or reach the daemon "svc": ${message} (metadata: absent; spawned: pid 9)`);
    expect(error.cause).toBe(cause);
  });

  it('ended by a start error of its own (a registry, a handshake refused): that error itself', () => {
    for (const own of [new ConnectionFailedError('no etcd'), new HandshakeError('refused', { code: 'ERR_AUTH_FAILED' })]) {
      expect(attemptFailure(attempt, output({ error: own }))).toBe(own);
    }
  });

  it('ended by any other error: a start failure that quotes it and keeps it as its cause', () => {
    const cause = new Error('EMFILE: too many open files');
    const error = attemptFailure(attempt, output({ error: cause, trail: ['metadata: absent', 'spawned: pid 9'] }));
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect(error.message).toBe('Could not start or reach the daemon "svc": EMFILE: too many open files (metadata: absent; spawned: pid 9)');
    expect(error.cause).toBe(cause);
    expect(attemptFailure(attempt, output({ error: 'a string' })).message).toBe('Could not start or reach the daemon "svc": a string ()');
  });
});
