import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync, lstatSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LoopbackSingletonError } from '../../src/errors.js';
import { spawnSync } from 'node:child_process';
import { ensurePrivateDir, makeParents } from '../../src/runtime/dir.js';

let temp: string;

beforeEach(() => {
  temp = mkdtempSync(join(tmpdir(), 'lbs-dir-'));
});

afterEach(() => {
  rmSync(temp, { recursive: true, force: true });
});

function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

function expectRefused(dir: string): void {
  let caught: unknown;
  try {
    ensurePrivateDir(dir);
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(LoopbackSingletonError);
  expect((caught as LoopbackSingletonError).code).toBe('ERR_LOOPBACK_SINGLETON');
}

describe('ensurePrivateDir', () => {
  it('creates a missing directory with mode 0700', () => {
    const dir = join(temp, 'svc');
    ensurePrivateDir(dir);
    expect(statSync(dir).isDirectory()).toBe(true);
    expect(modeOf(dir)).toBe(0o700);
  });

  it('creates missing parents too, privately', () => {
    const root = join(temp, 'root');
    const dir = join(root, 'nested', 'svc');
    ensurePrivateDir(dir);
    expect(modeOf(dir)).toBe(0o700);
    expect(modeOf(join(root, 'nested'))).toBe(0o700);
    expect(modeOf(root)).toBe(0o700);
  });

  it('is idempotent on its own directory', () => {
    const dir = join(temp, 'svc');
    ensurePrivateDir(dir);
    writeFileSync(join(dir, 'keep'), 'x');
    ensurePrivateDir(dir);
    expect(modeOf(dir)).toBe(0o700);
    expect(statSync(join(dir, 'keep')).isFile()).toBe(true);
  });

  it.each([[0o755], [0o777], [0o750], [0o701]])('chmods an existing directory of mode %o back to 0700', (mode) => {
    const dir = join(temp, 'svc');
    mkdirSync(dir);
    chmodSync(dir, mode);
    expect(modeOf(dir)).toBe(mode);
    ensurePrivateDir(dir);
    expect(modeOf(dir)).toBe(0o700);
  });

  it('refuses a symlink to a directory and leaves the target alone', () => {
    const target = join(temp, 'target');
    mkdirSync(target);
    chmodSync(target, 0o755);
    const link = join(temp, 'svc');
    symlinkSync(target, link, 'dir');
    expectRefused(link);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(modeOf(target)).toBe(0o755);
  });

  it('refuses a dangling symlink', () => {
    const link = join(temp, 'svc');
    symlinkSync(join(temp, 'nowhere'), link);
    expectRefused(link);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
  });

  it('refuses a regular file', () => {
    const file = join(temp, 'svc');
    writeFileSync(file, 'not a dir');
    expectRefused(file);
    expect(statSync(file).isFile()).toBe(true);
  });

  // Only root can hand a directory to another uid; other users test the rest.
  if (process.getuid?.() === 0) {
    it('refuses a directory owned by another uid and does not chmod it', () => {
      const dir = join(temp, 'svc');
      mkdirSync(dir);
      chmodSync(dir, 0o755);
      chownSync(dir, 12345, 12345);
      expectRefused(dir);
      expect(modeOf(dir)).toBe(0o755);
      expect(statSync(dir).uid).toBe(12345);
    });
  }
});

describe('a runtime dir that cannot be created reports the real cause, not ENOENT', () => {
  const erofs = (path: string) => Object.assign(new Error(`EROFS: read-only file system, mkdir '${path}'`), { code: 'EROFS' });
  const enoent = (path: string) => Object.assign(new Error(`ENOENT: no such file or directory, mkdir '${path}'`), { code: 'ENOENT' });

  it("makeParents: a recursive mkdir's ENOENT becomes the first missing ancestor's own error (injected EROFS)", () => {
    const calls: string[] = [];
    const mkdir = ((path: string, options?: { recursive?: boolean }) => {
      calls.push(`${path}${options?.recursive ? ' -p' : ''}`);
      throw options?.recursive ? enoent(path) : erofs(path);
    }) as unknown as typeof mkdirSync;
    const error = (() => {
      try {
        makeParents('/ro/a/b/c', mkdir, (path) => path === '/ro' || path === '/');
      } catch (e) {
        return e as NodeJS.ErrnoException;
      }
      return undefined;
    })();
    expect(error?.code).toBe('EROFS');
    expect(calls).toEqual(['/ro/a/b/c -p', '/ro/a']);
  });

  it('ensurePrivateDir under a read-only mount: EROFS with the directory in the message', () => {
    // A read-only tmpfs needs mount privileges (root in the CI container); the injected case
    // above runs everywhere. Where mount is refused, the refusal itself is what is checked.
    const mountPoint = join(temp, 'ro');
    mkdirSync(mountPoint);
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', mountPoint]).status === 0;
    if (!mounted) {
      expect(() =>
        makeParents(join(mountPoint, 'x'), ((path: string, options?: { recursive?: boolean }) => {
          throw options?.recursive ? enoent(path) : erofs(path);
        }) as unknown as typeof mkdirSync),
      ).toThrow(expect.objectContaining({ code: 'EROFS' }));
      return;
    }
    try {
      for (const dir of [join(mountPoint, 'svc'), join(mountPoint, 'deeper', 'root', 'svc')]) {
        let caught: NodeJS.ErrnoException | undefined;
        try {
          ensurePrivateDir(dir);
        } catch (error) {
          caught = error as NodeJS.ErrnoException;
        }
        expect(caught?.code).toBe('EROFS');
        expect(caught?.message).toContain(dir);
      }
    } finally {
      spawnSync('umount', [mountPoint]);
    }
  });
});
