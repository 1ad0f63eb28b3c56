/**
 * Whether a process is still running. `kill(pid, 0)` alone also succeeds for a zombie: a
 * daemon that has exited but whose parent (often init, once its spawner is gone) has not
 * reaped it yet. On Linux the process state in /proc tells them apart.
 */
import { readFileSync } from 'node:fs';

/** True while `pid` runs (a zombie counts as exited). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists, but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (process.platform !== 'linux') return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The state follows the command name, which is in parentheses and may contain spaces.
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state !== 'Z' && state !== 'X';
  } catch {
    // Gone between the two looks.
    return false;
  }
}
