import { spawnSync } from 'node:child_process';
import type * as realFs from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LoopbackSingletonError } from '../../src/errors.js';
import { isProcessAlive, isSameProcess, processStartTime } from '../../src/runtime/process.js';

// Makes reads of /proc fail with an errno, as they do under fd starvation.
const hooks = vi.hoisted(() => ({ procError: undefined as string | undefined }));
vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof realFs>();
  const readFileSync = ((...args: Parameters<typeof actual.readFileSync>) => {
    const code = hooks.procError;
    if (code !== undefined && String(args[0]).startsWith('/proc/')) throw Object.assign(new Error(`${code}: simulated, open '${String(args[0])}'`), { code });
    return (actual.readFileSync as (...a: unknown[]) => unknown)(...args);
  }) as typeof actual.readFileSync;
  const openSync = ((...args: Parameters<typeof actual.openSync>) => {
    const code = hooks.procError;
    if (code !== undefined && String(args[0]).startsWith('/proc/')) throw Object.assign(new Error(`${code}: simulated, open '${String(args[0])}'`), { code });
    return (actual.openSync as (...a: unknown[]) => number)(...args);
  }) as typeof actual.openSync;
  return { ...actual, default: { ...actual, readFileSync, openSync }, readFileSync, openSync };
});

afterEach(() => {
  hooks.procError = undefined;
});

/** A pid that certainly belongs to no process any more. */
function exitedPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

describe('process identity', () => {
  it.runIf(process.platform === 'linux')('a start time is the boot and the ticks since boot, stable for one process, different for another', () => {
    const mine = processStartTime(process.pid);
    expect(mine).toMatch(/^[0-9a-f-]{36}:\d+$/);
    expect(processStartTime(process.pid)).toBe(mine);
    // pid 1 started at boot, long before this test; a parent may have started in the same clock tick.
    expect(processStartTime(1)).not.toBe(mine);
    expect(processStartTime(1)).toMatch(/^[0-9a-f-]{36}:\d+$/);
    expect(processStartTime(exitedPid())).toBeUndefined();
  });

  it.runIf(process.platform === 'linux')('a start time is read whole from /proc: the same ticks as the whole file gives, look after look', async () => {
    const { readFileSync } = await vi.importActual<typeof realFs>('node:fs');
    const ticks = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]!.split(' ')[19];
    for (const pid of [process.pid, process.ppid, process.pid]) expect(processStartTime(pid)?.split(':')[1]).toBe(ticks(pid));
  });

  it('this process is alive and is itself; with a start time that is not its own it is another process (a reused pid)', () => {
    expect(isProcessAlive(process.pid)).toBe(true);
    expect(isSameProcess(process.pid, undefined)).toBe(true);
    expect(isSameProcess(process.pid, processStartTime(process.pid))).toBe(true);
    if (process.platform === 'linux') expect(isSameProcess(process.pid, 'another-boot:12345')).toBe(false);
  });

  it('an exited process is neither alive nor the same, whatever start time is given', () => {
    const pid = exitedPid();
    expect(isProcessAlive(pid)).toBe(false);
    expect(isSameProcess(pid, undefined)).toBe(false);
    expect(isSameProcess(pid, 'x:1')).toBe(false);
  });
});

describe.runIf(process.platform === 'linux')('a failed read of /proc is no verdict', () => {
  it.each(['EMFILE', 'ENFILE', 'ENOMEM', 'EACCES'])('%s: isSameProcess and processStartTime throw a clear error instead of saying "gone"', (code) => {
    const mine = processStartTime(process.pid);
    hooks.procError = code;
    for (const look of [() => isSameProcess(process.pid, mine), () => isProcessAlive(process.pid), () => processStartTime(process.pid)]) {
      let caught: unknown;
      try {
        look();
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(LoopbackSingletonError);
      expect((caught as LoopbackSingletonError).code).toBe('ERR_LOOPBACK_SINGLETON');
      expect(((caught as Error).cause as NodeJS.ErrnoException).code).toBe(code);
    }
    hooks.procError = undefined;
    expect(isSameProcess(process.pid, mine)).toBe(true);
  });

  it('a process that is gone is still gone (ENOENT is evidence)', () => {
    expect(isSameProcess(exitedPid(), undefined)).toBe(false);
  });
});
