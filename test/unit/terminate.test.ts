/**
 * Who a stop may signal (src/client/terminate.ts): never this process, and on Linux never a
 * pid whose record carries no start time (no daemon of ours wrote it). How a graceful stop
 * asks and waits (drainDaemon), for `shutdown()` and `loopback-singleton stop` alike; how a
 * forced one escalates to SIGKILL and what it removes after (killDaemon).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Connection } from '../../src/client/connection.js';
import { drainDaemon, isSignallable, killDaemon } from '../../src/client/terminate.js';
import { writeMetadata } from '../../src/runtime/metadata.js';
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

describe('killDaemon', () => {
  /** A runtime dir with the record of `child` and, for ipc, its socket file and a foreign one. */
  function recorded(child: ReturnType<typeof spawn>, transport: 'tcp' | 'ipc') {
    const dir = mkdtempSync(join(tmpdir(), 'lbs-kill-'));
    const paths = { dir, metadata: join(dir, 'metadata.json') } as RuntimePaths;
    const pid = child.pid!;
    const instanceId = 'abcdef0123456789'.repeat(2);
    const socket = join(dir, `d-${instanceId.slice(0, 12)}.sock`);
    const metadata = {
      pid,
      startTime: processStartTime(pid),
      instanceId,
      transport,
      protocolVersion: 1,
      packageVersion: '0.0.1',
      factoryId: 'f'.repeat(32),
      startedAt: 1,
      ...(transport === 'tcp' ? { host: '127.0.0.1', port: 1 } : { path: socket }),
    } as unknown as DaemonMetadata;
    writeMetadata(paths.metadata, metadata);
    writeFileSync(socket, '');
    return { paths, metadata, socket, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
  }

  /** A process that is up (its SIGTERM handler set) once it printed a line. */
  async function started(script: string) {
    const child = spawn(process.execPath, ['-e', `${script}; console.log('up'); setTimeout(() => {}, 20000)`], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise((resolve) => child.stdout!.once('data', resolve));
    return child;
  }

  it('a process that exits on SIGTERM: not killed; its record and its own socket file removed', async () => {
    const child = await started('');
    const { paths, metadata, socket, cleanup } = recorded(child, 'ipc');
    try {
      expect(await killDaemon(paths, metadata, undefined)).toEqual({ killed: false, removedRecord: true });
      expect(child.signalCode ?? (await new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal))))).toBe('SIGTERM');
      expect(existsSync(paths.metadata)).toBe(false);
      expect(existsSync(socket)).toBe(false);
    } finally {
      child.kill('SIGKILL');
      cleanup();
    }
  });

  it('a process that ignores SIGTERM is SIGKILLed after the grace; a record of another instance is left', async () => {
    const child = await started("process.on('SIGTERM', () => {})");
    const { paths, metadata, socket, cleanup } = recorded(child, 'tcp');
    // Another daemon's record took its place meanwhile: not removed.
    writeMetadata(paths.metadata, { ...metadata, instanceId: '9'.repeat(32) });
    try {
      expect(await killDaemon(paths, metadata, undefined)).toEqual({ killed: true, removedRecord: false });
      expect(child.signalCode ?? (await new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal))))).toBe('SIGKILL');
      expect(existsSync(paths.metadata)).toBe(true);
      // A tcp daemon has no socket file: the file that happens to bear the name is left.
      expect(existsSync(socket)).toBe(true);
    } finally {
      child.kill('SIGKILL');
      cleanup();
    }
  });

  it('asks over the connection with force rather than by signal, and closes the connection', async () => {
    const child = await started('');
    const { paths, metadata, cleanup } = recorded(child, 'tcp');
    const asked: boolean[] = [];
    let closed = 0;
    const connection = {
      shutdown: (force: boolean) => {
        asked.push(force);
        child.kill('SIGINT');
        return Promise.reject(new Error('closed before the acknowledgement'));
      },
      close: () => void closed++,
    } as unknown as Connection;
    try {
      expect(await killDaemon(paths, metadata, connection)).toEqual({ killed: false, removedRecord: true });
      expect(asked).toEqual([true]);
      expect(closed).toBe(1);
      expect(child.signalCode ?? (await new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal))))).toBe('SIGINT');
    } finally {
      child.kill('SIGKILL');
      cleanup();
    }
  });

  it('a socket path outside its runtime dir, or not named after its instance, is never removed', async () => {
    const child = await started('');
    const { paths, metadata, cleanup } = recorded(child, 'ipc');
    const elsewhere = mkdtempSync(join(tmpdir(), 'lbs-kill-other-'));
    const foreign = join(elsewhere, `d-${metadata.instanceId.slice(0, 12)}.sock`);
    const misnamed = join(paths.dir, 'd-000000000000.sock');
    writeFileSync(foreign, '');
    writeFileSync(misnamed, '');
    try {
      expect(await killDaemon(paths, { ...metadata, path: foreign } as DaemonMetadata, undefined)).toMatchObject({ killed: false });
      expect(existsSync(foreign)).toBe(true);
      const second = await started('');
      const again = { ...metadata, pid: second.pid!, startTime: processStartTime(second.pid!), path: misnamed } as DaemonMetadata;
      expect(await killDaemon(paths, again, undefined)).toMatchObject({ killed: false });
      expect(existsSync(misnamed)).toBe(true);
      second.kill('SIGKILL');
    } finally {
      child.kill('SIGKILL');
      cleanup();
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});
