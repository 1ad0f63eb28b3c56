/**
 * Processes found by what their command line names (Linux /proc): a daemon process carries
 * its runtime root as an argument from the moment it is spawned, before it has a record or a
 * log line, so a test (and the suite's leak check) finds it even if it never became a daemon.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** Pids (other than this process) whose command line has an argument that starts with `path`. */
export function processesMentioning(path: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let argv: string[];
    let state: string;
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] ?? '';
    } catch {
      continue; // exited meanwhile
    }
    // A zombie has exited (its parent has not reaped it yet).
    if (state !== 'Z' && argv.some((arg) => arg.startsWith(path))) found.push(pid);
  }
  return found;
}
