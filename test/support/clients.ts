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

export const DIST_INDEX = pathToFileURL(join(import.meta.dirname, '..', '..', 'dist', 'src', 'index.js')).href;
export const WORKER = join(FIXTURES, 'worker.mjs');
export const COUNTER = `${SERVICES_URL}:Counter`;

/** A service in a fresh runtime root; its daemon is force-stopped when the test ends. */
export function service<T = Record<string, (...args: never[]) => unknown>>(
  options: LocalSingletonOptions = {},
  factory: string = COUNTER,
  name = 'svc',
): LocalSingletonService<T> {
  const svc = localSingleton<T>(name, factory, { runtimeDir: freshRoot(), ...options });
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
  const full = { dist: DIST_INDEX, name: 'svc', factory: COUNTER, ...spec };
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
