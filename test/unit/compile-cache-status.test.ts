/**
 * src/runtime/compile-cache.ts against a stand-in for `node:module`'s compile cache API (Node
 * 20 has none; 22.1+ has it): how each status Node reports is named, what a throw becomes, and
 * the daemon log's line. The real cache in real processes is test/unit/compile-cache.test.ts.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { COMPILE_CACHE_DIR_NAME, compileCacheDirIn, describeCompileCache, enableCompileCacheIn } from '../../src/runtime/compile-cache.js';
import { makeRoot, removeRoot } from '../support/in-process.js';

const node = vi.hoisted(() => ({
  impl: (_dir?: string): { status: number; message?: string; directory?: string } => ({ status: 0 }),
  constants: { compileCacheStatus: undefined as undefined | Record<'FAILED' | 'ENABLED' | 'ALREADY_ENABLED' | 'DISABLED', number> },
}));
// The module's namespace is made once: a stable function and object that the tests steer.
vi.mock('node:module', async (load) => {
  const actual = await load<typeof import('node:module')>();
  const enableCompileCache = (dir?: string) => node.impl(dir);
  return { ...actual, default: { ...actual, enableCompileCache, constants: node.constants }, enableCompileCache, constants: node.constants };
});

const CODES = { FAILED: 0, ENABLED: 1, ALREADY_ENABLED: 2, DISABLED: 3 };

let root: string;
beforeEach(() => {
  root = makeRoot('lbs-cache-');
  node.constants.compileCacheStatus = CODES;
});
afterEach(() => removeRoot(root));

describe('enableCompileCacheIn', () => {
  it('is unsupported without the status codes (Node < 22.1), and touches nothing', () => {
    const dir = compileCacheDirIn(root);
    expect(dir).toBe(join(root, COMPILE_CACHE_DIR_NAME));
    expect(COMPILE_CACHE_DIR_NAME).toBe('@compile-cache');
    node.impl = () => ({ status: CODES.ENABLED });
    node.constants.compileCacheStatus = undefined;
    expect(enableCompileCacheIn(dir)).toEqual({ status: 'unsupported' });
    expect(existsSync(dir)).toBe(false);
  });

  it.each([
    ['ENABLED', 'enabled'],
    ['ALREADY_ENABLED', 'already-enabled'],
    ['DISABLED', 'disabled'],
    ['FAILED', 'failed'],
  ] as const)("names Node's %s status %s, in a private directory it made", (code, status) => {
    const dir = compileCacheDirIn(root);
    const seen: Array<string | undefined> = [];
    node.impl = (given) => {
      seen.push(given);
      return { status: CODES[code] };
    };
    expect(enableCompileCacheIn(dir)).toEqual({ status });
    expect(seen).toEqual([dir]);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it("keeps Node's directory and message; a throw is a failure with its message, never thrown", () => {
    const dir = compileCacheDirIn(root);
    node.impl = () => ({ status: CODES.DISABLED, directory: '/elsewhere', message: 'NODE_DISABLE_COMPILE_CACHE is set' });
    expect(enableCompileCacheIn(dir)).toEqual({ status: 'disabled', directory: '/elsewhere', message: 'NODE_DISABLE_COMPILE_CACHE is set' });
    node.impl = () => {
      throw new Error('EACCES: permission denied');
    };
    expect(enableCompileCacheIn(dir)).toEqual({ status: 'failed', message: 'EACCES: permission denied' });
  });
});

describe('describeCompileCache', () => {
  it('is the status, then the directory in parentheses, then the message after a colon', () => {
    expect(describeCompileCache({ status: 'unsupported' })).toBe('unsupported');
    expect(describeCompileCache({ status: 'enabled', directory: '/r/@compile-cache' })).toBe('enabled (/r/@compile-cache)');
    expect(describeCompileCache({ status: 'failed', message: 'EACCES' })).toBe('failed: EACCES');
    expect(describeCompileCache({ status: 'disabled', directory: '/d', message: 'off' })).toBe('disabled (/d): off');
  });
});
