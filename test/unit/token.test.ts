import * as realFs from 'node:fs';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import ts from 'typescript';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LoopbackSingletonError } from '../../src/errors.js';
import { loadOrCreateToken, readToken } from '../../src/runtime/token.js';

// Lets a test run code right before token.ts links its temp file into place, to play the
// process that wins the creation race.
const hooks = vi.hoisted(() => ({ beforeLink: undefined as (() => void) | undefined }));
vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof realFs>();
  const linkSync: typeof actual.linkSync = (existing, target) => {
    const hook = hooks.beforeLink;
    hooks.beforeLink = undefined;
    hook?.();
    actual.linkSync(existing, target);
  };
  return { ...actual, default: { ...actual, linkSync }, linkSync };
});

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

let temp: string;
let path: string;

beforeEach(() => {
  temp = mkdtempSync(join(tmpdir(), 'lbs-token-'));
  path = join(temp, 'token');
});

afterEach(() => {
  hooks.beforeLink = undefined;
  rmSync(temp, { recursive: true, force: true });
});

function expectRefused(fn: () => unknown): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(LoopbackSingletonError);
  expect((caught as LoopbackSingletonError).code).toBe('ERR_LOOPBACK_SINGLETON');
}

const VALID = 'ab'.repeat(32);

describe('loadOrCreateToken', () => {
  it('creates a 0600 file of 64 lowercase hex characters and returns its bytes', () => {
    const token = loadOrCreateToken(path);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const text = readFileSync(path, 'latin1');
    expect(text).toMatch(/^[0-9a-f]{64}$/);
    expect(token.equals(Buffer.from(text, 'latin1'))).toBe(true);
  });

  it('returns the same bytes on every later call', () => {
    const first = loadOrCreateToken(path);
    for (let i = 0; i < 5; i++) expect(loadOrCreateToken(path).equals(first)).toBe(true);
    expect(readToken(path)?.equals(first)).toBe(true);
  });

  it('leaves no temp file behind', () => {
    loadOrCreateToken(path);
    loadOrCreateToken(path);
    expect(readdirSync(temp)).toEqual(['token']);
  });

  it('makes a new token after the file was deleted, and every later call agrees on it', () => {
    const first = loadOrCreateToken(path);
    unlinkSync(path);
    const second = loadOrCreateToken(path);
    expect(second.equals(first)).toBe(false);
    for (let i = 0; i < 5; i++) expect(loadOrCreateToken(path).equals(second)).toBe(true);
  });

  it('adopts the token of a process that won the creation race', () => {
    hooks.beforeLink = () => writeFileSync(path, VALID, { mode: 0o600 });
    expect(loadOrCreateToken(path).toString('latin1')).toBe(VALID);
    expect(readFileSync(path, 'latin1')).toBe(VALID);
    expect(readdirSync(temp)).toEqual(['token']);
  });

  it('lets 20 concurrent creators (worker threads) agree on one token', async () => {
    const moduleUrl = compileTokenModule(join(temp, 'compiled'));
    const workers = 20;
    const rounds = 8;
    const paths = Array.from({ length: rounds }, (_, r) => join(temp, `round-${r}`, 'token'));
    for (const p of paths) mkdirSync(dirname(p));
    const results = await raceInWorkers(moduleUrl, paths, workers);
    for (let r = 0; r < rounds; r++) {
      const onDisk = readFileSync(paths[r]!, 'latin1');
      expect(onDisk).toMatch(/^[0-9a-f]{64}$/);
      expect(results[r]).toEqual(Array.from({ length: workers }, () => onDisk));
      expect(readdirSync(dirname(paths[r]!))).toEqual(['token']);
    }
  });

  it('refuses an existing token that others may read (0644) and leaves it alone', () => {
    writeFileSync(path, VALID, { mode: 0o644 });
    chmodSync(path, 0o644);
    expectRefused(() => loadOrCreateToken(path));
    expectRefused(() => readToken(path));
    expect(readFileSync(path, 'latin1')).toBe(VALID);
    expect(statSync(path).mode & 0o777).toBe(0o644);
  });

  it.each([[0o640], [0o604], [0o660], [0o666]])('refuses a token of mode %o', (mode) => {
    writeFileSync(path, VALID, { mode: 0o600 });
    chmodSync(path, mode);
    expectRefused(() => loadOrCreateToken(path));
    expect(readFileSync(path, 'latin1')).toBe(VALID);
  });

  it.each([
    ['empty', ''],
    ['too short', 'ab'.repeat(31)],
    ['63 characters', 'a'.repeat(63)],
    ['65 characters', 'a'.repeat(65)],
    ['uppercase hex', 'AB'.repeat(32)],
    ['a trailing newline', `${VALID}\n`],
    ['non-hex characters', 'g'.repeat(64)],
    ['binary bytes', '\u0000'.repeat(64)],
  ])('refuses a malformed token file (%s) and leaves it alone', (_label, content) => {
    writeFileSync(path, content, { mode: 0o600, encoding: 'latin1' });
    expectRefused(() => loadOrCreateToken(path));
    expectRefused(() => readToken(path));
    expect(readFileSync(path, 'latin1')).toBe(content);
  });

  it('refuses a symlink to a valid token', () => {
    const real = join(temp, 'real-token');
    writeFileSync(real, VALID, { mode: 0o600 });
    symlinkSync(real, path);
    expectRefused(() => loadOrCreateToken(path));
  });

  it('refuses a directory in place of the token', () => {
    mkdirSync(path, { mode: 0o700 });
    expectRefused(() => loadOrCreateToken(path));
  });

  if (process.getuid?.() === 0) {
    it('refuses a token owned by another uid', () => {
      writeFileSync(path, VALID, { mode: 0o600 });
      chownSync(path, 12345, 12345);
      expectRefused(() => loadOrCreateToken(path));
    });
  }
});

describe('readToken', () => {
  it('returns undefined when there is no token', () => {
    expect(readToken(path)).toBeUndefined();
    expect(readdirSync(temp)).toEqual([]);
  });

  it('reads a valid token as its ASCII bytes', () => {
    writeFileSync(path, VALID, { mode: 0o600 });
    expect(readToken(path)?.toString('latin1')).toBe(VALID);
  });
});

/**
 * Worker threads cannot import TypeScript, so the two source files token.ts needs are
 * transpiled (types stripped, nothing else changed) next to each other in `outDir`.
 */
function compileTokenModule(outDir: string): string {
  for (const file of ['errors.ts', 'runtime/token.ts']) {
    const source = readFileSync(join(SRC, file), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    const out = join(outDir, file.replace(/\.ts$/, '.js'));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, outputText);
  }
  writeFileSync(join(outDir, 'package.json'), '{"type":"module"}');
  return pathToFileURL(join(outDir, 'runtime', 'token.js')).href;
}

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { moduleUrl, paths, gate } = workerData;
import(moduleUrl).then(({ loadOrCreateToken }) => {
  parentPort.postMessage({ ready: true });
  for (let round = 0; round < paths.length; round++) {
    // Wait until the main thread releases this round, so all creators start together.
    while (Atomics.load(gate, 0) <= round) Atomics.wait(gate, 0, Atomics.load(gate, 0));
    let token;
    try {
      token = loadOrCreateToken(paths[round]).toString('latin1');
    } catch (error) {
      token = 'error ' + (error && error.code);
    }
    parentPort.postMessage({ round, token });
  }
});
`;

/** Runs every round with all workers released at once; returns each round's tokens. */
async function raceInWorkers(moduleUrl: string, paths: string[], count: number): Promise<string[][]> {
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const results: string[][] = paths.map(() => []);
  const pool = Array.from({ length: count }, () => new Worker(WORKER_SOURCE, { eval: true, workerData: { moduleUrl, paths, gate } }));
  try {
    const waiters: Array<{ round: number; resolve: () => void }> = [];
    let ready = 0;
    let allReady!: () => void;
    const readyPromise = new Promise<void>((resolve) => (allReady = resolve));
    const failures: Promise<never>[] = [];
    for (const worker of pool) {
      failures.push(new Promise<never>((_, reject) => worker.once('error', reject)));
      worker.on('message', (message: { ready?: true; round?: number; token?: string }) => {
        if (message.ready) {
          if (++ready === count) allReady();
          return;
        }
        const round = message.round!;
        results[round]!.push(message.token!);
        if (results[round]!.length === count) waiters.find((w) => w.round === round)?.resolve();
      });
    }
    const failed = Promise.race(failures);
    failed.catch(() => undefined); // awaited below; this only keeps a late error from going unhandled
    await Promise.race([readyPromise, failed]);
    for (let round = 0; round < paths.length; round++) {
      const done = new Promise<void>((resolve) => waiters.push({ round, resolve }));
      Atomics.store(gate, 0, round + 1);
      Atomics.notify(gate, 0);
      await Promise.race([done, failed]);
    }
    return results;
  } finally {
    await Promise.all(pool.map((worker) => worker.terminate()));
  }
}
