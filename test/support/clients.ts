/**
 * Helpers for tests of the public API: services in fresh runtime roots that are shut down
 * when the test ends, and real client processes running test/fixtures/worker.mjs.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { onTestFinished } from 'vitest';
import { localSingleton, type LocalSingletonOptions, type LocalSingletonService } from '../../dist/src/index.js';
import { FIXTURES, freshRoot, SERVICES_URL } from './daemon.js';

// What the library loads on a first start only (the client's statecharts and wire, the spawn
// lock), loaded before any test: under vitest it loads through vitest's module runner, which on
// a loaded machine can take seconds, inside the start budget of whichever test starts first.
await import('../../dist/src/client/session.js');
await import('proper-lockfile');

export const DIST_INDEX = pathToFileURL(join(import.meta.dirname, '..', '..', 'dist', 'src', 'index.js')).href;
export const WORKER = join(FIXTURES, 'worker.mjs');
export const COUNTER = `${SERVICES_URL}:Counter`;

/**
 * The start budget of the services and worker processes these helpers make, unless a test
 * passes its own `startTimeoutMs`. A start on a loaded 2-core machine, beside another test
 * file's daemons and clients, can outlast the 5 s default: a test that is not about the start
 * budget counts outcomes rather than racing that clock (the tests of the budget pass theirs).
 * Below the test timeout, so that a start that hangs still fails with the start's own error.
 */
export const TEST_START_TIMEOUT_MS = 20_000;

/**
 * The library's own start budget, for the tests that wait for a daemon to idle out: a daemon
 * does not idle-exit before its spawner's start budget has run out (src/daemon/budget.ts), so
 * with {@link TEST_START_TIMEOUT_MS} it would linger 20 s.
 */
export const IDLE_TEST_START_TIMEOUT_MS = 5000;

/** A service in a fresh runtime root; its daemon is force-stopped when the test ends. */
export function service<T = Record<string, (...args: never[]) => unknown>>(
  options: LocalSingletonOptions = {},
  factory: string = COUNTER,
  name = 'svc',
): LocalSingletonService<T> {
  const svc = localSingleton<T>(name, factory, { runtimeDir: freshRoot(), startTimeoutMs: TEST_START_TIMEOUT_MS, ...options });
  onTestFinished(() => svc.shutdown({ force: true }));
  return svc;
}

/** What a worker process printed. */
export interface WorkerResult {
  readonly pid?: number;
  readonly results: unknown[];
  readonly error?: { name: string; code: string; message: string };
  /** With `standby: true`: what became of the standby this process spawned, if any. */
  readonly standby?: Array<{ outcome: string; pid: number }>;
}

/** Spec of one worker process (see test/fixtures/worker.mjs). */
export interface WorkerSpec {
  readonly runtimeDir: string;
  readonly name?: string;
  readonly factory?: string;
  readonly options?: LocalSingletonOptions;
  readonly startAt?: number;
  readonly op?: 'sequential' | 'pipelined';
  readonly method?: string;
  readonly count: number;
  readonly leaveOpen?: boolean;
  readonly standby?: boolean;
}

/** Runs a worker process to completion and parses its output. */
export function runWorker(spec: WorkerSpec, timeoutMs = 30_000): Promise<WorkerResult> {
  const full = { dist: DIST_INDEX, name: 'svc', factory: COUNTER, ...spec, options: { startTimeoutMs: TEST_START_TIMEOUT_MS, ...spec.options } };
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [WORKER, JSON.stringify(full)], { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`worker failed: ${error.message}\n${stderr}`));
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()!) as WorkerResult);
      } catch {
        reject(new Error(`worker printed no result: ${stdout}\n${stderr}`));
      }
    });
  });
}
