import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { invalidNameReason, resolveRuntimeRoot, runtimePaths } from '../../src/runtime/paths.js';

describe('invalidNameReason', () => {
  it.each([['a'], ['my-counter'], ['A.b_c-1'], ['x'.repeat(64)], ['...'], ['.hidden'], ['0']])('accepts %o', (name) => {
    expect(invalidNameReason(name)).toBeUndefined();
  });

  it.each([
    ['empty', ''],
    ['dot', '.'],
    ['dot-dot', '..'],
    ['a slash', 'a/b'],
    ['a backslash', 'a\\b'],
    ['a leading slash', '/abs'],
    ['65 characters', 'x'.repeat(65)],
    ['a space', 'my counter'],
    ['a trailing newline', 'abc\n'],
    ['a NUL byte', 'a\0b'],
    ['a colon', 'c:d'],
    ['an accented letter', 'café'],
    ['full-width digits', '１２３'],
    ['an emoji', 'a😀'],
  ])('rejects a name with %s', (_label, name) => {
    expect(typeof invalidNameReason(name)).toBe('string');
  });

  it.each([[undefined], [null], [42], [['a']], [{ name: 'a' }], [Symbol('a')]])('rejects the non-string %o', (name) => {
    expect(typeof invalidNameReason(name)).toBe('string');
  });
});

describe('resolveRuntimeRoot', () => {
  let temp: string;
  const home = join(homedir(), '.cache', 'loopback-singleton');

  beforeEach(() => {
    temp = mkdtempSync(join(tmpdir(), 'lbs-paths-'));
  });

  afterEach(() => {
    rmSync(temp, { recursive: true, force: true });
  });

  it('prefers the runtimeDir option over everything else', () => {
    const env = { LOOPBACK_SINGLETON_RUNTIME_DIR: join(temp, 'env'), LOCALAPPDATA: join(temp, 'lad'), XDG_RUNTIME_DIR: temp };
    expect(resolveRuntimeRoot(join(temp, 'opt'), env, 'win32')).toBe(join(temp, 'opt'));
    expect(resolveRuntimeRoot(join(temp, 'opt'), env, 'linux')).toBe(join(temp, 'opt'));
  });

  it('resolves a relative runtimeDir against the current working directory', () => {
    const root = resolveRuntimeRoot('some/rel/dir', {}, 'linux');
    expect(root).toBe(join(process.cwd(), 'some', 'rel', 'dir'));
    expect(isAbsolute(root)).toBe(true);
  });

  it('uses LOOPBACK_SINGLETON_RUNTIME_DIR next, before LOCALAPPDATA and XDG_RUNTIME_DIR', () => {
    const env = { LOOPBACK_SINGLETON_RUNTIME_DIR: join(temp, 'env'), LOCALAPPDATA: join(temp, 'lad'), XDG_RUNTIME_DIR: temp };
    expect(resolveRuntimeRoot(undefined, env, 'win32')).toBe(join(temp, 'env'));
    expect(resolveRuntimeRoot(undefined, env, 'linux')).toBe(join(temp, 'env'));
  });

  it('refuses a relative LOOPBACK_SINGLETON_RUNTIME_DIR: processes in two directories would get two roots', () => {
    for (const rel of ['rel-root', './rt', '../x', '.']) {
      expect(() => resolveRuntimeRoot(undefined, { LOOPBACK_SINGLETON_RUNTIME_DIR: rel }, 'linux')).toThrow(
        expect.objectContaining({ code: 'ERR_LOOPBACK_SINGLETON', message: expect.stringContaining('absolute') }),
      );
    }
  });

  it('an empty or relative HOME falls back to the account home directory, never to the working directory', () => {
    for (const badHome of ['', '.', 'rel/home']) {
      expect(
        resolveRuntimeRoot(
          undefined,
          {},
          'linux',
          () => badHome,
          () => '/home/acct',
        ),
      ).toBe(join('/home/acct', '.cache', 'loopback-singleton'));
    }
    expect(
      resolveRuntimeRoot(
        undefined,
        {},
        'linux',
        () => '/h',
        () => '/home/acct',
      ),
    ).toBe(join('/h', '.cache', 'loopback-singleton'));
  });

  it('an empty HOME with no account home is refused with a clear error, not made relative', () => {
    const noAccount = (): string => {
      throw Object.assign(new Error('no passwd entry'), { code: 'ENOENT' });
    };
    for (const account of [noAccount, () => '', () => 'rel']) {
      expect(() => resolveRuntimeRoot(undefined, {}, 'linux', () => '', account)).toThrow(
        expect.objectContaining({ code: 'ERR_LOOPBACK_SINGLETON', message: expect.stringContaining('set HOME') }),
      );
    }
    // An absolute XDG_RUNTIME_DIR or env root still works without any home.
    expect(resolveRuntimeRoot(undefined, { XDG_RUNTIME_DIR: temp }, 'linux', () => '', noAccount)).toBe(join(temp, 'loopback-singleton'));
  });

  it('treats an empty LOOPBACK_SINGLETON_RUNTIME_DIR as unset', () => {
    expect(resolveRuntimeRoot(undefined, { LOOPBACK_SINGLETON_RUNTIME_DIR: '', XDG_RUNTIME_DIR: temp }, 'linux')).toBe(join(temp, 'loopback-singleton'));
  });

  it('uses %LOCALAPPDATA%\\loopback-singleton on Windows, before XDG_RUNTIME_DIR', () => {
    const lad = join(temp, 'AppData', 'Local');
    expect(resolveRuntimeRoot(undefined, { LOCALAPPDATA: lad, XDG_RUNTIME_DIR: temp }, 'win32')).toBe(join(lad, 'loopback-singleton'));
  });

  it('ignores LOCALAPPDATA on other platforms', () => {
    expect(resolveRuntimeRoot(undefined, { LOCALAPPDATA: join(temp, 'lad'), XDG_RUNTIME_DIR: temp }, 'linux')).toBe(join(temp, 'loopback-singleton'));
    expect(resolveRuntimeRoot(undefined, { LOCALAPPDATA: join(temp, 'lad') }, 'darwin')).toBe(home);
  });

  it('falls through on Windows without LOCALAPPDATA', () => {
    expect(resolveRuntimeRoot(undefined, { XDG_RUNTIME_DIR: temp }, 'win32')).toBe(join(temp, 'loopback-singleton'));
    expect(resolveRuntimeRoot(undefined, {}, 'win32')).toBe(home);
  });

  it('uses $XDG_RUNTIME_DIR/loopback-singleton when it is an existing writable directory', () => {
    expect(resolveRuntimeRoot(undefined, { XDG_RUNTIME_DIR: temp }, 'linux')).toBe(join(temp, 'loopback-singleton'));
  });

  it('skips an XDG_RUNTIME_DIR that does not exist', () => {
    expect(resolveRuntimeRoot(undefined, { XDG_RUNTIME_DIR: join(temp, 'missing') }, 'linux')).toBe(home);
  });

  it('skips an XDG_RUNTIME_DIR that is a file', () => {
    const file = join(temp, 'file');
    writeFileSync(file, '');
    expect(resolveRuntimeRoot(undefined, { XDG_RUNTIME_DIR: file }, 'linux')).toBe(home);
  });

  it('skips a relative XDG_RUNTIME_DIR even when it names an existing directory', () => {
    const rel = relative(process.cwd(), temp);
    expect(isAbsolute(rel)).toBe(false);
    expect(resolveRuntimeRoot(undefined, { XDG_RUNTIME_DIR: rel }, 'linux')).toBe(home);
  });

  it('treats an empty XDG_RUNTIME_DIR as unset', () => {
    expect(resolveRuntimeRoot(undefined, { XDG_RUNTIME_DIR: '' }, 'linux')).toBe(home);
  });

  // root may write anywhere, so an unwritable directory can only be tested as another user.
  if (process.getuid?.() !== 0) {
    it('skips an XDG_RUNTIME_DIR that is not writable', () => {
      const readOnly = join(temp, 'ro');
      mkdirSync(readOnly);
      chmodSync(readOnly, 0o500);
      expect(resolveRuntimeRoot(undefined, { XDG_RUNTIME_DIR: readOnly }, 'linux')).toBe(home);
    });
  }

  it('falls back to ~/.cache/loopback-singleton with nothing set', () => {
    expect(resolveRuntimeRoot(undefined, {}, 'linux')).toBe(home);
    expect(resolveRuntimeRoot(undefined, {}, 'darwin')).toBe(home);
  });
});

describe('runtimePaths', () => {
  it('gives the five documented absolute paths inside <root>/<name>', () => {
    const root = join(tmpdir(), 'lbs-root');
    const paths = runtimePaths(root, 'my-counter');
    const dir = join(root, 'my-counter');
    expect(paths).toMatchObject({
      dir,
      metadata: join(dir, 'metadata.json'),
      token: join(dir, 'token'),
      log: join(dir, 'daemon.log'),
    });
    expect(Object.keys(paths).sort()).toEqual(['dir', 'lock', 'log', 'metadata', 'token']);
    for (const path of Object.values(paths)) expect(isAbsolute(path)).toBe(true);
    expect(dirname(paths.lock)).toBe(dir);
    expect(new Set(Object.values(paths)).size).toBe(5);
  });
});
