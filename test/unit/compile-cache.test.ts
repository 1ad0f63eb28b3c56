/**
 * Node's compile cache (src/runtime/compile-cache.ts, src/compile-cache.ts). Enabling it is
 * process-wide, so each case runs in a child process of this Node: on 22.1+ the cache is made
 * private under the runtime root; on Node 20 nothing happens; a directory that cannot be used
 * is reported, never thrown.
 */
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { COMPILE_CACHE_DIR_NAME } from '../../src/runtime/compile-cache.js';
import { invalidNameReason } from '../../src/runtime/paths.js';

const INDEX = new URL('../../dist/src/index.js', import.meta.url).href;
const SUPPORTED = typeof ((await import('node:module')) as { enableCompileCache?: unknown }).enableCompileCache === 'function';

let temp: string;
beforeEach(() => {
  temp = mkdtempSync(join(tmpdir(), 'lbs-cc-'));
});
afterEach(() => {
  rmSync(temp, { recursive: true, force: true });
});

/** Runs `enableCompileCache({ runtimeDir })` in a fresh process; its result. */
function enableInChild(runtimeDir: string, env: NodeJS.ProcessEnv = {}): { status: string; directory?: string; message?: string } {
  const script = `import(${JSON.stringify(INDEX)}).then((m) => console.log(JSON.stringify(m.enableCompileCache({ runtimeDir: ${JSON.stringify(runtimeDir)} }))))`;
  const env0 = { ...process.env };
  delete env0.NODE_COMPILE_CACHE;
  delete env0.NODE_DISABLE_COMPILE_CACHE;
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...env0, ...env } });
  expect(child.stderr).toBe('');
  expect(child.status).toBe(0);
  return JSON.parse(child.stdout);
}

describe('enableCompileCache', () => {
  it('keeps its directory apart from every singleton name (and so out of list and clean)', () => {
    expect(invalidNameReason(COMPILE_CACHE_DIR_NAME)).toBeDefined();
  });

  // Each case asserts what the running Node does: CI runs the suite on Node 20 (no
  // module.enableCompileCache: `unsupported`, nothing made) and on 22 and 24.
  it('uses <runtime root>/@compile-cache, private, and fills it (on Node 20: unsupported, nothing made)', () => {
    const result = enableInChild(temp);
    if (!SUPPORTED) {
      expect(result).toEqual({ status: 'unsupported' });
      expect(readdirSync(temp)).toEqual([]);
      return;
    }
    expect(result.status).toBe('enabled');
    const dir = join(temp, '@compile-cache');
    expect(result.directory).toContain(dir);
    expect(lstatSync(dir).mode & 0o777).toBe(0o700);
    // Written at exit, one folder per Node version.
    expect(readdirSync(dir).length).toBeGreaterThan(0);
  });

  it('defers to NODE_COMPILE_CACHE when the user set it (on Node 20: unsupported)', () => {
    const own = join(temp, 'own');
    const result = enableInChild(join(temp, 'root'), { NODE_COMPILE_CACHE: own });
    if (!SUPPORTED) {
      expect(result).toEqual({ status: 'unsupported' });
      expect(readdirSync(temp)).toEqual([]);
      return;
    }
    expect(result.status).toBe('already-enabled');
    expect(result.directory).toContain(own);
  });

  it('reports a directory it must not use, and does not throw (on Node 20: unsupported)', () => {
    mkdirSync(join(temp, 'elsewhere'));
    symlinkSync(join(temp, 'elsewhere'), join(temp, '@compile-cache'));
    const result = enableInChild(temp);
    if (SUPPORTED) {
      expect(result.status).toBe('failed');
      expect(result.message).toMatch(/symlink/);
    } else {
      expect(result).toEqual({ status: 'unsupported' });
    }
    expect(readdirSync(join(temp, 'elsewhere'))).toEqual([]);
  });
});
