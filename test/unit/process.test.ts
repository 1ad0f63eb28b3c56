import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isProcessAlive, isSameProcess, processStartTime } from '../../src/runtime/process.js';

/** A pid that certainly belongs to no process any more. */
function exitedPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

describe('process identity', () => {
  it.runIf(process.platform === 'linux')('a start time is the boot and the ticks since boot, stable for one process, different for another', () => {
    const mine = processStartTime(process.pid);
    expect(mine).toMatch(/^[0-9a-f-]{36}:\d+$/);
    expect(processStartTime(process.pid)).toBe(mine);
    expect(processStartTime(process.ppid)).not.toBe(mine);
    expect(processStartTime(exitedPid())).toBeUndefined();
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
