/**
 * Who a stop may signal (src/client/terminate.ts): never this process, and on Linux never a
 * pid whose record carries no start time (no daemon of ours wrote it).
 */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isSignallable, killDaemon } from '../../src/client/terminate.js';
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
