/**
 * A short soak in CI: scripts/soak/main.mjs (against the built dist/, which the suite builds
 * first) for 8 s with 3 client processes, once over tcp and once over ipc, while its chaos
 * loop SIGKILLs the daemon, corrupts metadata.json, holds the spawn lock, shuts the daemon
 * down, keeps it busy on the CPU, SIGSTOPs it, leaves a call that never settles, deletes the
 * token and (ipc) the socket, starves a client of file descriptors, steps the wall clock of
 * one client and the lock helpers (libfaketime), and new clients keep arriving. The soak makes and removes its own temp runtime dir and kills
 * whatever it left running; this test checks its report. The soak's silent-object-change
 * detector is checked on its own first.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const MAIN = join(ROOT, 'scripts', 'soak', 'main.mjs');
/** A chaos kind's name (scripts/soak/chaos.mjs's ALL_CHAOS_KINDS lists them). */
type ChaosKind = string;
/** The chaos kinds, as the soak lists them, and where libfaketime is, as the soak finds it (`.ci/run` installs Debian's faketime). */
const { ALL_CHAOS_KINDS: CHAOS_KINDS, LIBFAKETIME } = (await import(pathToFileURL(join(ROOT, 'scripts', 'soak', 'chaos.mjs')).href)) as {
  ALL_CHAOS_KINDS: readonly ChaosKind[];
  LIBFAKETIME: string | undefined;
};
/** The kinds that need a Unix socket to act on. */
const IPC_ONLY: readonly ChaosKind[] = ['delete-socket'];
if (LIBFAKETIME === undefined) console.warn('soak: libfaketime is not installed (Debian package faketime): the clock-step chaos does not run');

interface SoakReport {
  readonly ok: boolean;
  readonly transport: 'tcp' | 'ipc';
  readonly callsMade: number;
  readonly callsAnswered: number;
  readonly callsFailedByCode: Record<string, number>;
  readonly proxiesOpened: number;
  readonly opensMeetingFreeze: number;
  readonly silentObjectChanges: number;
  readonly maxLiveDaemons: number;
  readonly hangs: number;
  readonly leftovers: number;
  readonly samples: number;
  readonly chaosKinds: ChaosKind[];
  readonly chaos: Record<ChaosKind, number>;
  readonly violations: string[];
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runSoak(args: string[], timeoutMs: number): Promise<Run> {
  return new Promise((resolve) => {
    // On a timeout, SIGTERM: the soak then resumes, kills and removes what it started itself.
    execFile(process.execPath, [MAIN, ...args], { cwd: ROOT, timeout: timeoutMs, killSignal: 'SIGTERM' }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve({ code, stdout, stderr });
    });
  });
}

type Outcome = { ok: unknown } | { code: string } | 'HANG';
interface SilentChange {
  readonly seq: number;
  readonly previous: number;
  readonly value: number;
}
/** The soak's plain-JavaScript detector, as this test uses it. */
interface IssueOrder {
  issue(): number;
  settle(seq: number, outcome: Outcome): void;
}
const { IssueOrder } = (await import(pathToFileURL(join(ROOT, 'scripts', 'soak', 'issue-order.mjs')).href)) as {
  IssueOrder: new (onSilentChange: (change: SilentChange) => void) => IssueOrder;
};

/** Feeds `settled` ([issue number, outcome] in settle order) to a fresh detector; the silent changes it reports. */
function silentChanges(issued: number, settled: ReadonlyArray<readonly [number, Outcome]>): SilentChange[] {
  const changes: SilentChange[] = [];
  const order = new IssueOrder((change) => changes.push(change));
  for (let i = 0; i < issued; i++) order.issue();
  for (const [seq, outcome] of settled) order.settle(seq, outcome);
  return changes.map(({ seq, previous, value }) => ({ seq, previous, value }));
}

describe('soak: the silent-object-change detector (scripts/soak/issue-order.mjs)', () => {
  it('passes answers that increase in issue order, whatever order they settle in', () => {
    expect(
      silentChanges(4, [
        [1, { ok: 11 }],
        [0, { ok: 10 }],
        [3, { ok: 14 }],
        [2, { ok: 12 }],
      ]),
    ).toEqual([]);
  });

  it('reports an answer not above the previous one in issue order, with no failure between', () => {
    expect(
      silentChanges(3, [
        [0, { ok: 10 }],
        [1, { ok: 11 }],
        [2, { ok: 1 }],
      ]),
    ).toEqual([{ seq: 2, previous: 11, value: 1 }]);
    expect(
      silentChanges(2, [
        [0, { ok: 7 }],
        [1, { ok: 7 }],
      ]),
    ).toEqual([{ seq: 1, previous: 7, value: 7 }]);
  });

  it('checks a settled call only once every earlier one has settled: a later failure of an earlier call still counts as between', () => {
    // Call 1 (lane B) waits for a restart and fails after call 2 (lane A) was answered by the new daemon.
    expect(
      silentChanges(3, [
        [0, { ok: 50 }],
        [2, { ok: 1 }],
        [1, { code: 'ERR_DAEMON_LOST' }],
      ]),
    ).toEqual([]);
    // The same answers with call 1 answered by the old object: call 2's 1 is a silent change.
    expect(
      silentChanges(3, [
        [0, { ok: 50 }],
        [2, { ok: 1 }],
        [1, { ok: 51 }],
      ]),
    ).toEqual([{ seq: 2, previous: 51, value: 1 }]);
  });

  it('takes any failure, or a hung call, as the break that allows a new object', () => {
    expect(
      silentChanges(3, [
        [0, { ok: 50 }],
        [1, { code: 'ERR_DAEMON_DRAINING' }],
        [2, { ok: 1 }],
      ]),
    ).toEqual([]);
    expect(
      silentChanges(3, [
        [0, { ok: 50 }],
        [1, 'HANG'],
        [2, { ok: 1 }],
      ]),
    ).toEqual([]);
  });
});

describe('soak', () => {
  for (const transport of ['tcp', 'ipc'] as const) {
    it(`8 s of chaos under 3 client processes over ${transport}: one live daemon at a time, no silent object change, no hang, nothing left behind`, async () => {
      const { code, stdout, stderr } = await runSoak(['--seconds', '8', '--clients', '3', '--transport', transport, '--json'], 100_000);
      const lines = stdout.trim().split('\n');
      expect(lines, `stdout:\n${stdout}\nstderr:\n${stderr}`).toHaveLength(1);
      const report = JSON.parse(lines[0]!) as SoakReport;
      const context = `violations:\n${report.violations.join('\n')}\nstderr:\n${stderr}`;

      expect.soft(report.maxLiveDaemons, context).toBe(1);
      expect.soft(report.silentObjectChanges, context).toBe(0);
      expect.soft(report.hangs, context).toBe(0);
      expect.soft(report.leftovers, context).toBe(0);
      expect.soft(report.violations).toEqual([]);
      expect(code, context).toBe(0);
      expect(report.ok).toBe(true);

      expect(report.transport).toBe(transport);
      expect(report.samples).toBeGreaterThan(100);
      expect(report.callsAnswered).toBeGreaterThan(0);
      expect(report.callsMade).toBeGreaterThanOrEqual(report.callsAnswered);
      const applicable = CHAOS_KINDS.filter((kind) => (transport === 'ipc' || !IPC_ONLY.includes(kind)) && (kind !== 'clock-step' || LIBFAKETIME !== undefined));
      expect(report.chaosKinds).toEqual(applicable);
      for (const kind of applicable) expect(report.chaos[kind], `chaos actions of kind ${kind}`).toBeGreaterThanOrEqual(1);
      for (const kind of CHAOS_KINDS.filter((k) => !applicable.includes(k))) expect(report.chaos[kind], `${kind} does not apply to ${transport}`).toBe(0);
      // New clients kept arriving, and some met a busy or stopped daemon.
      expect(report.proxiesOpened).toBeGreaterThan(3);
      expect(report.opensMeetingFreeze).toBeGreaterThanOrEqual(1);
    }, 120_000);
  }

  it('rejects a bad flag with a one-line usage error and exit code 2', async () => {
    const { code, stdout, stderr } = await runSoak(['--seconds', 'ten'], 30_000);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/--seconds must be an integer from 1 to 86400, got "ten"\. usage: /);
  });

  it('rejects an unknown transport the same way', async () => {
    const { code, stdout, stderr } = await runSoak(['--transport', 'udp'], 30_000);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(stderr).toMatch(/--transport must be tcp or ipc, got "udp"\. usage: /);
  });
});
