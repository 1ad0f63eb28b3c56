/**
 * One root for every runtime dir the suite creates, and the suite-wide leak check: at the
 * end, every daemon that ever logged under that root must be dead, and no process may still
 * run with a runtime dir under it on its command line (a daemon process that never became a
 * daemon, such as a standby, logs nothing).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { isProcessAlive } from '../../src/runtime/process.js';
import { processesMentioning } from './proc.js';
import { sleep } from './wait.js';

declare module 'vitest' {
  export interface ProvidedContext {
    suiteRoot: string;
  }
}

let suiteRoot = '';

export function setup(project: TestProject): void {
  suiteRoot = mkdtempSync(join(tmpdir(), 'lbs-suite-'));
  project.provide('suiteRoot', suiteRoot);
}

// Zombies (exited daemons that init has not reaped yet) count as exited.
const isAlive = isProcessAlive;

/** Every pid that wrote a `[daemon PID]` line to a daemon.log under `dir`. */
function daemonPids(dir: string, found = new Set<number>()): Set<number> {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (stat?.isDirectory()) daemonPids(path, found);
    else if (entry.startsWith('daemon.log')) {
      for (const match of readFileSync(path, 'utf8').matchAll(/\[daemon (\d+)\]/g)) found.add(Number(match[1]));
    }
  }
  return found;
}

export async function teardown(): Promise<void> {
  const pids = [...daemonPids(suiteRoot, new Set(processesMentioning(suiteRoot)))];
  const deadline = Date.now() + 5000;
  let alive = pids.filter(isAlive);
  while (alive.length > 0 && Date.now() < deadline) {
    await sleep(100);
    alive = alive.filter(isAlive);
  }
  for (const pid of alive) process.kill(pid, 'SIGKILL');
  if (alive.length > 0) {
    throw new Error(`The suite left ${alive.length} daemon process(es) alive (killed now): ${alive.join(', ')}; logs under ${suiteRoot}`);
  }
  process.stdout.write(`leak check: ${pids.length} daemon(s) started by the suite, none left alive\n`);
  rmSync(suiteRoot, { recursive: true, force: true });
}
