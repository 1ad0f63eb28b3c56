import { execFileSync } from 'node:child_process';
import * as realFs from 'node:fs';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import ts from 'typescript';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LoopbackSingletonError } from '../../src/errors.js';
import { checkToken, loadOrCreateToken, readToken, restoreToken } from '../../src/runtime/token.js';

// Lets a test run code right before token.ts links its temp file into place, to play the
// process that wins the creation race; and make the next write fail (a full disk).
// And make the next open for reading fail (EMFILE...).
const hooks = vi.hoisted(() => ({
  beforeLink: undefined as (() => void) | undefined,
  writeError: undefined as string | undefined,
  readOpenError: undefined as string | undefined,
}));
vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof realFs>();
  const linkSync: typeof actual.linkSync = (existing, target) => {
    const hook = hooks.beforeLink;
    hooks.beforeLink = undefined;
    hook?.();
    actual.linkSync(existing, target);
  };
  const writeSync = ((...args: Parameters<typeof actual.writeSync>) => {
    const code = hooks.writeError;
    hooks.writeError = undefined;
    if (code !== undefined) throw Object.assign(new Error(`${code}: simulated, write`), { code });
    return (actual.writeSync as (...a: unknown[]) => number)(...args);
  }) as typeof actual.writeSync;
  const openSync = ((...args: Parameters<typeof actual.openSync>) => {
    const code = typeof args[1] === 'number' ? hooks.readOpenError : undefined;
    if (code !== undefined) {
      hooks.readOpenError = undefined;
      throw Object.assign(new Error(`${code}: simulated, open '${String(args[0])}'`), { code });
    }
    return actual.openSync(...args);
  }) as typeof actual.openSync;
  return { ...actual, default: { ...actual, linkSync, writeSync, openSync }, linkSync, writeSync, openSync };
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
  hooks.writeError = undefined;
  hooks.readOpenError = undefined;
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

describe('a cold start whose write fails (a full disk)', () => {
  it('leaves no half-written temp file, and no token', () => {
    hooks.writeError = 'ENOSPC';
    expect(() => loadOrCreateToken(path)).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
    expect(readdirSync(temp)).toEqual([]);
    // The disk has room again: the next start creates the token normally.
    expect(loadOrCreateToken(path)).toHaveLength(64);
    expect(readdirSync(temp)).toEqual(['token']);
  });

  it('restoreToken leaves the old file and no temp file when its write fails', () => {
    writeFileSync(path, VALID, { mode: 0o600 });
    hooks.writeError = 'EIO';
    expect(() => restoreToken(path, Buffer.from('cd'.repeat(32)))).toThrow(expect.objectContaining({ code: 'EIO' }));
    expect(readdirSync(temp)).toEqual(['token']);
    expect(readFileSync(path, 'latin1')).toBe(VALID);
  });

  // The real thing: a tmpfs of one page, filled up. Root only (CI runs as root); skipped where
  // mounting is not allowed.
  const canMount = process.platform === 'linux' && process.getuid?.() === 0;
  it.skipIf(!canMount)('on a real full tmpfs, ENOSPC leaves no 0-byte temp file', () => {
    const mountPoint = join(temp, 'full');
    mkdirSync(mountPoint);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4k,mode=0700', 'tmpfs', mountPoint], { stdio: 'ignore' });
    } catch {
      return; // no mount here (a container without CAP_SYS_ADMIN): nothing to learn
    }
    try {
      writeFileSync(join(mountPoint, 'filler'), Buffer.alloc(4096));
      expect(() => writeFileSync(join(mountPoint, 'probe'), 'x')).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
      realFs.rmSync(join(mountPoint, 'probe'), { force: true });
      expect(() => loadOrCreateToken(join(mountPoint, 'token'))).toThrow(expect.objectContaining({ code: 'ENOSPC' }));
      expect(readdirSync(mountPoint)).toEqual(['filler']);
    } finally {
      execFileSync('umount', [mountPoint]);
    }
  });
});

describe('whatever sits at the token path, reading it answers at once', () => {
  it.skipIf(process.platform === 'win32')('refuses a FIFO, with no writer on the other end', { timeout: 2000 }, () => {
    execFileSync('mkfifo', ['-m', '600', path]);
    expectRefused(() => readToken(path));
    expectRefused(() => loadOrCreateToken(path));
  });

  it.skipIf(process.platform === 'win32')('refuses a symlink to /dev/zero without reading from it', () => {
    symlinkSync('/dev/zero', path);
    expectRefused(() => readToken(path));
  });

  it('refuses a file padded to 50 MB by its size, before reading it', () => {
    writeFileSync(path, VALID.padEnd(50 * 1024 * 1024, '0'), { mode: 0o600 });
    expect(() => readToken(path)).toThrow(/larger than 64 bytes/);
  });
});

describe('checkToken / restoreToken (the daemon keeping its secret in the file)', () => {
  const OURS = Buffer.from('cd'.repeat(32), 'latin1');

  it('says `same` for the secret in a private file, with a stamp that a rewrite changes', () => {
    restoreToken(path, OURS);
    const first = checkToken(path, OURS);
    expect(first.status).toBe('same');
    restoreToken(path, OURS);
    const second = checkToken(path, OURS);
    expect(second.status).toBe('same');
    expect(first.status === 'same' && second.status === 'same' && first.stamp !== second.stamp).toBe(true);
  });

  it('says `absent` when there is no file', () => {
    expect(checkToken(path, OURS)).toEqual({ status: 'absent' });
  });

  it.each<[string, () => void]>([
    ['another secret', () => writeFileSync(path, VALID, { mode: 0o600 })],
    [
      'a 0644 file',
      () => {
        writeFileSync(path, OURS);
        chmodSync(path, 0o644);
      },
    ],
    ['a malformed file', () => writeFileSync(path, 'nope', { mode: 0o600 })],
    [
      'a symlink to the secret',
      () => {
        writeFileSync(join(temp, 'real'), OURS, { mode: 0o600 });
        symlinkSync(join(temp, 'real'), path);
      },
    ],
    ['a directory', () => mkdirSync(path)],
  ])('says `differs` for %s', (_label, plant) => {
    plant();
    const found = checkToken(path, OURS);
    expect(found.status).toBe('differs');
    expect(found.status === 'differs' && found.reason.length).toBeGreaterThan(0);
  });

  it.each<[string, () => void]>([
    ['nothing', () => {}],
    ['another secret', () => writeFileSync(path, VALID, { mode: 0o600 })],
    [
      'a 0644 file',
      () => {
        writeFileSync(path, VALID);
        chmodSync(path, 0o644);
      },
    ],
    ['a symlink', () => symlinkSync('/dev/zero', path)],
  ])('restoreToken replaces %s with a private file of the secret, leaving no temp file', (_label, plant) => {
    plant();
    restoreToken(path, OURS);
    expect(readFileSync(path).equals(OURS)).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(temp).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect(checkToken(path, OURS).status).toBe('same');
  });
});

describe('a token that cannot be read (EMFILE, EACCES, EIO) is not a missing one', () => {
  it.each(['EMFILE', 'EACCES', 'EIO'])('%s: loadOrCreateToken fails with a clear error naming the cause, and neither creates nor overwrites the file', (code) => {
    writeFileSync(path, VALID, { mode: 0o600 });
    hooks.readOpenError = code;
    let caught: unknown;
    try {
      loadOrCreateToken(path);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(LoopbackSingletonError);
    expect((caught as LoopbackSingletonError).code).toBe('ERR_LOOPBACK_SINGLETON');
    expect(((caught as Error).cause as NodeJS.ErrnoException).code).toBe(code);
    expect((caught as Error).message).toContain(path);
    expect(readFileSync(path, 'latin1')).toBe(VALID);
    expect(readdirSync(temp)).toEqual(['token']);
  });

  it('EMFILE on an absent-looking path does not create one either', () => {
    hooks.readOpenError = 'EMFILE';
    expect(() => loadOrCreateToken(path)).toThrow(/raise the open-file limit \(ulimit -n\)/);
    expect(readdirSync(temp)).toEqual([]);
  });

  it('checkToken says `unreadable`, not `differs`: the daemon does not overwrite what it could not read', () => {
    const ours = Buffer.from(VALID, 'latin1');
    writeFileSync(path, VALID, { mode: 0o600 });
    hooks.readOpenError = 'EMFILE';
    const found = checkToken(path, ours);
    expect(found.status).toBe('unreadable');
    expect(found.status === 'unreadable' && found.error.code).toBe('EMFILE');
  });
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
 * Worker threads cannot import TypeScript, so the source files token.ts needs are
 * transpiled (types stripped, nothing else changed) next to each other in `outDir`.
 */
function compileTokenModule(outDir: string): string {
  for (const file of ['errors.ts', 'errors/classes.ts', 'errors/codes.ts', 'errors/wire.ts', 'runtime/local-fault.ts', 'runtime/private-file.ts', 'runtime/token.ts']) {
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
