/**
 * A short soak in CI: scripts/soak/main.mjs (against the built dist/, which the suite builds
 * first) for 6 s with 3 client processes, while its chaos loop SIGKILLs the daemon, corrupts
 * metadata.json, holds the spawn lock and shuts the daemon down. The soak makes and removes
 * its own temp runtime dir and kills whatever it left running; this test checks its report.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const MAIN = join(ROOT, 'scripts', 'soak', 'main.mjs');
const CHAOS_KINDS = ['sigkill', 'corrupt-metadata', 'hold-lock', 'shutdown', 'shutdown-force'] as const;

interface SoakReport {
  readonly ok: boolean;
  readonly callsMade: number;
  readonly callsAnswered: number;
  readonly callsFailedByCode: Record<string, number>;
  readonly maxLiveDaemons: number;
  readonly hangs: number;
  readonly leftovers: number;
  readonly samples: number;
  readonly chaos: Record<(typeof CHAOS_KINDS)[number], number>;
  readonly violations: string[];
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runSoak(args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    // On a timeout, SIGTERM: the soak then kills its clients, helpers and daemons itself.
    execFile(process.execPath, [MAIN, ...args], { cwd: ROOT, timeout: timeoutMs, killSignal: 'SIGTERM' }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('soak', () => {
  it('6 s of chaos under 3 client processes: one live daemon at a time, no hang, nothing left behind', async () => {
    const { code, stdout, stderr } = await runSoak(['--seconds', '6', '--clients', '3', '--json'], 100_000);
    const lines = stdout.trim().split('\n');
    expect(lines, `stdout:\n${stdout}\nstderr:\n${stderr}`).toHaveLength(1);
    const report = JSON.parse(lines[0]!) as SoakReport;
    const context = `violations:\n${report.violations.join('\n')}\nstderr:\n${stderr}`;

    expect.soft(report.maxLiveDaemons, context).toBe(1);
    expect.soft(report.hangs, context).toBe(0);
    expect.soft(report.leftovers, context).toBe(0);
    expect.soft(report.violations).toEqual([]);
    expect(code, context).toBe(0);
    expect(report.ok).toBe(true);

    expect(report.samples).toBeGreaterThan(100);
    expect(report.callsAnswered).toBeGreaterThan(0);
    expect(report.callsMade).toBeGreaterThanOrEqual(report.callsAnswered);
    for (const kind of CHAOS_KINDS) expect(report.chaos[kind], `chaos actions of kind ${kind}`).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('rejects a bad flag with a one-line usage error and exit code 2', async () => {
    const { code, stdout, stderr } = await runSoak(['--seconds', 'ten'], 30_000);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/--seconds must be an integer from 1 to 86400, got "ten"\. usage: /);
  });
});
