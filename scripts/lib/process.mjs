// Helpers the repository's scripts (the soak, the bench) share. Not part of the package.
import { readFileSync } from 'node:fs';

/**
 * Still running; a zombie (exited, not yet reaped by its parent) counts as dead, as in the
 * library's own check (src/runtime/process.ts, which the package does not export).
 */
export function isAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return error.code === 'EPERM';
  }
  if (process.platform !== 'linux') return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
