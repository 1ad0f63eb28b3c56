/**
 * launchDaemon (src/client/spawn.ts) with a stand-in for the daemon process, passed where a
 * standby would be: the config it sends, the boot report it believes (ready, failed), an exit
 * or a spawn error before it, a report still unread when the exit is seen, and giving up; and
 * logTail, what an error quotes of daemon.log.
 */
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { launchDaemon, launchInTurn, logTail } from '../../src/client/spawn.js';
import { ConnectionFailedError, FactoryError, LoopbackSingletonError } from '../../src/errors.js';
import type { DaemonConfig } from '../../src/runtime/daemon-config.js';
import type { DaemonMetadata } from '../../src/types.js';

/** A daemon process as launchDaemon sees it: a channel, its events, and what was done to it. */
class FakeDaemon extends EventEmitter {
  readonly pid = 4321;
  connected = true;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly sent: unknown[] = [];
  readonly done: string[] = [];
  sendError: Error | undefined;
  send(message: unknown, callback: (error: Error | null) => void): boolean {
    this.sent.push(message);
    queueMicrotask(() => callback(this.sendError ?? null));
    return true;
  }
  disconnect(): void {
    this.done.push('disconnect');
    this.connected = false;
    this.emit('disconnect');
  }
  unref(): void {
    this.done.push('unref');
  }
  kill(signal: NodeJS.Signals): boolean {
    this.done.push(`kill ${signal}`);
    return true;
  }
}

let dir: string;
let config: DaemonConfig;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lbs-spawn-'));
  config = { paths: { log: join(dir, 'daemon.log') }, name: 'svc' } as unknown as DaemonConfig;
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const METADATA = { pid: 4321, instanceId: 'a'.repeat(32) } as DaemonMetadata;

function launch(daemon = new FakeDaemon()) {
  const launched = launchDaemon(config, daemon as unknown as ChildProcess);
  return {
    daemon,
    launched,
    outcome: launched.ready.then(
      (value) => ({ value }),
      (error: unknown) => ({ error: error as Error }),
    ),
  };
}

describe('launchDaemon', () => {
  it('sends the config to a standby with its budget to be taken from it; ready: the pid and metadata, the channel closed', async () => {
    const { daemon, launched, outcome } = launch();
    expect(launched.pid).toBe(4321);
    expect(daemon.sent).toEqual([{ t: 'config', config: { ...config, budgetFromConfig: true } }]);
    daemon.emit('message', { t: 'progress' });
    daemon.emit('message', undefined);
    daemon.emit('message', { t: 'ready', metadata: METADATA });
    expect(await outcome).toEqual({ value: { pid: 4321, metadata: METADATA } });
    expect(daemon.done).toEqual(['disconnect', 'unref']);
    for (const event of ['message', 'exit', 'error']) expect(daemon.listenerCount(event)).toBe(0);
    // Settled once: what comes later changes nothing.
    launched.abort(new Error('late'));
    expect(daemon.done).toEqual(['disconnect', 'unref']);
  });

  it('a failed report: the daemon’s own error, rebuilt by code; the daemon is left to exit by itself', async () => {
    const { daemon, outcome } = launch();
    daemon.emit('message', { t: 'failed', error: { code: 'ERR_FACTORY', name: 'FactoryError', message: 'no export', stack: 'at x' } });
    const { error } = (await outcome) as { error: Error };
    expect(error).toBeInstanceOf(FactoryError);
    expect(error.message).toBe('no export');
    expect(daemon.done).toEqual(['disconnect', 'unref']);
  });

  it('an exit before any report, channel closed: ConnectionFailedError quoting the exit and the log’s last lines', async () => {
    writeFileSync(config.paths.log, `${'x'.repeat(3000)}\nboot failed: boom\n\n`);
    const daemon = new FakeDaemon();
    daemon.connected = false;
    const { outcome } = launch(daemon);
    daemon.emit('exit', 3, null);
    const { error } = (await outcome) as { error: Error };
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect(error.message).toBe(`The daemon exited (code 3) before it was ready. Last lines of ${config.paths.log}:\n${'x'.repeat(2048 - 20)}\nboot failed: boom`);
    expect(daemon.done).toEqual(['unref']);
  });

  it('an exit seen while the channel is still open: judged once it is drained, so a report still unread wins', async () => {
    const { daemon, outcome } = launch();
    daemon.emit('exit', null, 'SIGKILL');
    daemon.emit('message', { t: 'ready', metadata: METADATA });
    daemon.disconnect();
    expect(await outcome).toEqual({ value: { pid: 4321, metadata: METADATA } });

    const second = launch();
    second.daemon.emit('exit', null, 'SIGKILL');
    second.daemon.connected = false;
    second.daemon.emit('disconnect');
    const { error } = (await second.outcome) as { error: Error };
    expect(error.message).toMatch(/^The daemon exited \(SIGKILL\) before it was ready\. Last lines of .*daemon\.log:\n$/);
  });

  it('a spawn error: a local fault when out of descriptors, else ConnectionFailedError with its cause', async () => {
    const first = launch();
    first.daemon.emit('error', Object.assign(new Error('spawn EMFILE'), { code: 'EMFILE' }));
    const fault = ((await first.outcome) as { error: Error }).error;
    expect(fault).toBeInstanceOf(LoopbackSingletonError);
    expect(fault).toMatchObject({ code: 'ERR_LOOPBACK_SINGLETON' });
    expect(fault.message).toMatch(/start the daemon process/);
    const second = launch();
    const cause = Object.assign(new Error('spawn ENOENT'), { code: 'ENOENT' });
    second.daemon.emit('error', cause);
    const failed = ((await second.outcome) as { error: Error }).error;
    expect(failed).toBeInstanceOf(ConnectionFailedError);
    expect(failed.message).toBe('Could not start the daemon: spawn ENOENT');
    expect(failed.cause).toBe(cause);
  });

  it('a config that cannot be sent fails the launch like a spawn error', async () => {
    const daemon = new FakeDaemon();
    daemon.sendError = new Error('channel closed');
    const { outcome } = launch(daemon);
    expect(((await outcome) as { error: Error }).error.message).toBe('Could not start the daemon: channel closed');
  });

  it('a process without a channel (a spawn that failed at once) is sent nothing; its error event decides', async () => {
    const daemon = new FakeDaemon();
    (daemon as { send?: unknown }).send = undefined;
    const { outcome } = launch(daemon);
    daemon.emit('error', new Error('spawn EAGAIN'));
    expect(((await outcome) as { error: Error }).error.message).toBe('Could not start the daemon: spawn EAGAIN');
  });

  it('giving up kills a daemon still running, not one that exited, and rejects with the reason', async () => {
    const running = launch();
    const reason = new Error('deadline');
    running.launched.abort(reason);
    expect(((await running.outcome) as { error: Error }).error).toBe(reason);
    expect(running.daemon.done).toEqual(['disconnect', 'unref', 'kill SIGKILL']);
    for (const field of ['exitCode', 'signalCode'] as const) {
      const exited = new FakeDaemon();
      if (field === 'exitCode') exited.exitCode = 1;
      else exited.signalCode = 'SIGTERM';
      const gone = launch(exited);
      gone.launched.abort(reason);
      await gone.outcome;
      expect(exited.done).toEqual(['disconnect', 'unref']);
    }
  });
});

describe('logTail and launchInTurn', () => {
  it('the last bytes of a log, all of a short one, nothing of a missing one', () => {
    const path = join(dir, 'log');
    writeFileSync(path, 'abcdefghij');
    expect(logTail(path, 4)).toBe('ghij');
    expect(logTail(path)).toBe('abcdefghij');
    expect(logTail(join(dir, 'missing'))).toBe('');
  });

  it('runs launches one at a time, in order, each on its own turn, a failing one not stopping the next', async () => {
    const order: string[] = [];
    const first = launchInTurn(() => order.push('first'));
    const failing = launchInTurn(() => {
      order.push('failing');
      throw new Error('spawn failed');
    });
    const third = launchInTurn(() => order.push('third'));
    order.push('queued');
    await expect(failing).rejects.toThrow('spawn failed');
    await first;
    await third;
    expect(order).toEqual(['queued', 'first', 'failing', 'third']);
  });
});
