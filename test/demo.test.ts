/**
 * `npm run demo` end to end: examples/demo/main.mjs (against the built dist/, which the suite
 * builds first) with 3 workers x 50 calls. The demo makes and removes its own temp runtime
 * dir; this test only checks what it reports and that its daemon is really gone.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isProcessAlive } from '../dist/src/runtime/process.js';

const ROOT = join(import.meta.dirname, '..');
const MAIN = join(ROOT, 'examples', 'demo', 'main.mjs');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runDemo(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { cwd: ROOT, timeout: 50_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Zombies (exited, not yet reaped by init) count as gone. */
const isAlive = isProcessAlive;

describe('demo', () => {
  it('3 workers x 50 calls: one daemon, final count 150, no daemon left behind', async () => {
    const { code, stdout, stderr } = await runDemo(['--workers', '3', '--calls', '50']);
    const pids = [...new Set([...stdout.matchAll(/daemon (?:pid:? )?(\d+)/g)].map((m) => Number(m[1])))];
    try {
      expect(code, `stdout:\n${stdout}\nstderr:\n${stderr}`).toBe(0);
      expect(pids, stdout).toHaveLength(1);
      expect(stdout).toMatch(/^daemon pid: \d+ .*all 3 workers/m);
      expect(stdout).toMatch(/^final count: 150 = 3 x 50; every value 1\.\.150 was returned exactly once$/m);
      expect(stdout).toMatch(/^throughput: 150 calls in .* calls\/s/m);
      expect(stdout).toMatch(/^shutdown: daemon \d+ is gone; no daemon left behind$/m);
      expect(isAlive(pids[0]!), `daemon ${pids[0]} is still alive`).toBe(false);
    } finally {
      // Never leave a daemon behind, even when an assertion above failed.
      for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  }, 60_000);

  it('rejects a bad flag with a one-line usage error and exit code 2', async () => {
    const { code, stdout, stderr } = await runDemo(['--workers', 'zero']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/--workers must be an integer from 1 to 64, got "zero"\. usage: /);
  });
});
