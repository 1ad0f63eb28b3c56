/**
 * Who a stop may signal (src/client/terminate.ts): never this process, and on Linux never a
 * pid whose record carries no start time (no daemon of ours wrote it). How a graceful stop
 * asks and waits (drainDaemon), for `shutdown()` and `loopback-singleton stop` alike.
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/client/connection.js';
import { drainDaemon, isSignallable, killDaemon } from '../../src/client/terminate.js';
import { processStartTime } from '../../src/runtime/process.js';
import type { DaemonMetadata, RuntimePaths } from '../../src/types.js';

const linux = process.platform === 'linux';

describe('isSignallable', () => {
  it('never this process, whatever its record says', () => {
    expect(isSignallable({ pid: process.pid, startTime: processStartTime(process.pid) })).toBe(false);
    expect(isSignallable({ pid: process.pid, startTime: undefined })).toBe(false);
  });

  it('another process with its start time recorded: yes; without one: only where the platform keeps none', () => {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)']);
    try {
      const pid = child.pid!;
      expect(isSignallable({ pid, startTime: processStartTime(pid) ?? 'none' })).toBe(true);
      expect(isSignallable({ pid, startTime: undefined })).toBe(!linux);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('killDaemon refuses to signal a live process its record cannot prove, and leaves it running', async () => {
    if (!linux) return expect(linux).toBe(false);
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)']);
    try {
      const pid = child.pid!;
      const metadata = { pid, instanceId: 'x'.repeat(32), transport: 'tcp', host: '127.0.0.1', port: 1 } as unknown as DaemonMetadata;
      const paths = { dir: '/nonexistent', metadata: '/nonexistent/metadata.json' } as RuntimePaths;
      await expect(killDaemon(paths, metadata, undefined)).rejects.toMatchObject({ code: 'ERR_DAEMON_CONNECTION' });
      expect(child.exitCode).toBeNull();
      expect(child.signalCode).toBeNull();
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('drainDaemon', () => {
  /** A stand-in for a daemon: a process that runs until it is signalled, and its record. */
  function fakeDaemon(draining?: boolean) {
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 10000)']);
    const pid = child.pid!;
    const metadata = { pid, startTime: processStartTime(pid), instanceId: 'x'.repeat(32), ...(draining ? { draining } : {}) } as unknown as DaemonMetadata;
    return { child, metadata };
  }

  it('with no connection, SIGTERMs the recorded process and resolves true once it exited', async () => {
    const { child, metadata } = fakeDaemon();
    try {
      expect(await drainDaemon(metadata, undefined, 5000)).toBe(true);
      expect(child.signalCode ?? (await new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal))))).toBe('SIGTERM');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('never signals a process whose record says it drains already: resolves false when it outlives the wait', async () => {
    const { child, metadata } = fakeDaemon(true);
    try {
      expect(await drainDaemon(metadata, undefined, 100)).toBe(false);
      expect(child.exitCode).toBeNull();
      expect(child.signalCode).toBeNull();
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('asks over the connection rather than by signal, and closes it even when the acknowledgement never comes', async () => {
    const { child, metadata } = fakeDaemon();
    const asked: boolean[] = [];
    let closed = 0;
    const connection = {
      shutdown: (force: boolean) => {
        asked.push(force);
        return Promise.reject(new Error('closed before the acknowledgement'));
      },
      close: () => void closed++,
    } as unknown as Connection;
    try {
      expect(await drainDaemon(metadata, connection, 100)).toBe(false);
      expect(asked).toEqual([false]);
      expect(closed).toBe(1);
      expect(child.signalCode).toBeNull();
    } finally {
      child.kill('SIGKILL');
    }
  });
});
