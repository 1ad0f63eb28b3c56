/**
 * Errors are not evidence (issue 19, points 2 and 3), on real processes:
 *
 * - a client starved of file descriptors (`ulimit -n 64`, then every descriptor taken) fails
 *   with a clear error and deletes nothing: the daemon, its record and its state are unchanged;
 * - a spawn lock whose holder lives is not taken over when a wall clock steps (libfaketime on
 *   the waiter or on the holder, both ways): the factory runs once, no increment is lost.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readMetadata } from '../../dist/src/runtime/metadata.js';
import { COUNTER, DIST_INDEX, service, WORKER } from '../support/clients.js';
import { FIXTURES, freshRoot, loggedDaemonPids } from '../support/daemon.js';
import { until } from '../support/wait.js';

const STARVED_CLIENT = join(FIXTURES, 'starved-client.mjs');
const SLOW_START = `${pathToFileURL(join(FIXTURES, 'slow-start.mjs')).href}:slowCounter`;

interface Outcome {
  readonly spare: number;
  readonly value?: number;
  readonly code?: string;
  readonly message?: string;
}

/** Runs `node <args>` (under `bash -c 'ulimit -n <limit>'` when given) and returns its last stdout line, parsed. */
function runNode(args: string[], options: { env?: NodeJS.ProcessEnv; fdLimit?: number } = {}): Promise<unknown> {
  const quoted = [process.execPath, ...args].map((arg) => `'${arg.replaceAll("'", "'\\''")}'`).join(' ');
  const [file, argv] = options.fdLimit === undefined ? [process.execPath, args] : ['bash', ['-c', `ulimit -n ${options.fdLimit} && exec ${quoted}`]];
  return new Promise((resolve, reject) => {
    execFile(file, argv, { env: options.env ?? process.env, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`${error.message}\n${stderr}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()!));
      } catch {
        reject(new Error(`no result: ${stdout}\n${stderr}`));
      }
    });
  });
}

describe('a client starved of file descriptors', () => {
  it('on its first proxy(), which loads what a start needs, fails with the same clear error, never a missing module', { timeout: 90_000 }, async () => {
    const svc = service<{ inc(): Promise<number> }>();
    // A process per number of spare descriptors: each loads the library's start code starved
    // (Node 20 keeps a failed import, so one process would see only its first failure).
    const outcomes: Outcome[] = [];
    for (let spare = 0; spare < 16; spare++) {
      const spec = {
        dist: DIST_INDEX,
        runtimeDir: dirname(svc.paths.dir),
        name: 'svc',
        factory: COUNTER,
        // The one daemon outlives the gaps between these processes (each starts a Node and loads
        // the library, seconds apart on a loaded machine): a daemon that idled out between two of
        // them would be replaced, and its count start again (seen at idleTtlMs 2 s on Node 24).
        options: { startTimeoutMs: 5000, idleTtlMs: 120_000 },
        spares: [spare],
        cold: true,
      };
      outcomes.push(...((await runNode([STARVED_CLIENT, JSON.stringify(spec)], { fdLimit: 64 })) as { outcomes: Outcome[] }).outcomes);
    }
    const failures = outcomes.filter((outcome) => outcome.value === undefined);
    // Starved while loading for real: at least one failed in a module load.
    expect(failures.some((failure) => failure.message?.includes("Could not load this library's modules"))).toBe(true);
    for (const failure of failures) {
      expect(failure.code, failure.message).toBe('ERR_LOOPBACK_SINGLETON');
      expect(failure.message).toMatch(/ulimit -n/);
    }
    // Those that got a descriptor or two more reached the one daemon, one increment each.
    const values = outcomes.flatMap((outcome) => (outcome.value === undefined ? [] : [outcome.value]));
    expect(values).toEqual(values.map((_, i) => 1 + i));
  });

  it('fails with a clear error and deletes nothing: the daemon, its record and its state are unchanged', async () => {
    const svc = service<{ inc(): Promise<number>; get(): Promise<number> }>();
    const proxy = await svc.proxy();
    for (let i = 0; i < 100; i++) await proxy.inc();
    const before = readMetadata(svc.paths.metadata);
    expect(before.status).toBe('valid');
    const { pid } = await svc.ping();

    const spec = {
      dist: DIST_INDEX,
      runtimeDir: dirname(svc.paths.dir),
      name: 'svc',
      factory: COUNTER,
      options: { startTimeoutMs: 5000 },
      spares: [0, 1, 2, 3, 4, 5, 6, 8, 12, 24],
    };
    const { outcomes } = (await runNode([STARVED_CLIENT, JSON.stringify(spec)], { fdLimit: 64 })) as { outcomes: Outcome[] };

    expect(outcomes).toHaveLength(spec.spares.length);
    const failures = outcomes.filter((outcome) => outcome.value === undefined);
    // Starved for real: with no descriptor left, not even metadata.json can be opened.
    expect(failures.map((failure) => failure.spare)).toContain(0);
    for (const failure of failures) {
      expect(failure.code, failure.message).toBe('ERR_LOOPBACK_SINGLETON');
      expect(failure.message).toMatch(/EMFILE/);
      expect(failure.message).toMatch(/ulimit -n/);
    }
    // Every increment that succeeded went to the one daemon, in order.
    const values = outcomes.flatMap((outcome) => (outcome.value === undefined ? [] : [outcome.value]));
    expect(values).toEqual(values.map((_, i) => 101 + i));

    // Nothing deleted, nothing replaced.
    expect(readMetadata(svc.paths.metadata)).toEqual(before);
    expect(readMetadata(join(svc.paths.dir, 'metadata.backup.json'))).toEqual(before);
    expect((await svc.ping()).pid).toBe(pid);
    expect(await proxy.get()).toBe(100 + values.length);
    expect(loggedDaemonPids(svc.paths.log)).toEqual([pid]);
  });
});

/** libfaketime's preload library, where Debian's `faketime` package puts it, or undefined. */
function findLibfaketime(): string | undefined {
  for (const dir of ['/usr/lib', '/usr/lib64', '/usr/local/lib']) {
    const candidates = [join(dir, 'faketime', 'libfaketime.so.1')];
    try {
      for (const entry of readdirSync(dir)) candidates.push(join(dir, entry, 'faketime', 'libfaketime.so.1'));
    } catch {
      // no such dir
    }
    const found = candidates.find((path) => existsSync(path));
    if (found) return found;
  }
  return undefined;
}

const LIBFAKETIME = findLibfaketime();

/** Whose clock steps, and by how much (a libfaketime offset). */
type Step = { readonly who: 'waiter' | 'holder'; readonly offset: '+1h' | '-1h' };

describe('the spawn lock under a wall-clock step', () => {
  it.each<Step>([
    { who: 'waiter', offset: '+1h' },
    { who: 'holder', offset: '+1h' },
    { who: 'holder', offset: '-1h' },
  ])("the $who's clock steps $offset while the holder starts a 3 s factory: it runs once, no increment lost", async ({ who, offset }) => {
    const root = freshRoot();
    const runs = join(root, 'runs.txt');
    // The test's own handle, to shut the daemon down when it ends.
    const svc = service({ runtimeDir: root, args: [runs, 3000], startTimeoutMs: 30_000 }, SLOW_START);
    const { paths } = svc;
    const clocks = { holder: join(root, 'holder.clock'), waiter: join(root, 'waiter.clock') };
    for (const clock of Object.values(clocks)) writeFileSync(clock, '+0\n');
    const envOf = (clock: string): NodeJS.ProcessEnv =>
      LIBFAKETIME === undefined
        ? process.env
        : { ...process.env, LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: clock, FAKETIME_NO_CACHE: '1', DONT_FAKE_MONOTONIC: '1' };
    const spec = { dist: DIST_INDEX, runtimeDir: root, name: 'svc', factory: SLOW_START, options: { args: [runs, 3000], startTimeoutMs: 30_000 }, count: 1 };
    const holder = runNode([WORKER, JSON.stringify(spec)], { env: envOf(clocks.holder) });
    // The holder has the lock, and its factory is running.
    await until(() => existsSync(runs), 'the holder to start the factory', 20_000);
    expect(existsSync(join(paths.lock, 'holder.json'))).toBe(true);
    if (LIBFAKETIME === undefined) {
      console.warn("libfaketime is not installed (Debian package `faketime`): instead of stepping a clock, the live holder's lock is given an mtime an hour in the past");
      const past = (Date.now() - 3_600_000) / 1000;
      utimesSync(paths.lock, past, past);
    } else if (who === 'holder') {
      writeFileSync(clocks.holder, `${offset}\n`);
    }
    const waiter = runNode([WORKER, JSON.stringify(spec)], { env: envOf(clocks.waiter) });
    if (LIBFAKETIME !== undefined && who === 'waiter') writeFileSync(clocks.waiter, `${offset}\n`);
    const results = (await Promise.all([holder, waiter])) as Array<{ pid?: number; results: number[]; error?: { code: string; message: string } }>;

    for (const result of results) expect(result.error, result.error?.message).toBeUndefined();
    expect(readFileSync(runs, 'utf8').trim().split('\n')).toHaveLength(1);
    expect(results.flatMap((result) => result.results).sort()).toEqual([1, 2]);
    expect(results[0]!.pid).toBe(results[1]!.pid);
    expect(loggedDaemonPids(paths.log)).toEqual([results[0]!.pid]);
  });
});
