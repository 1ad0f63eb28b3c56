/**
 * The bundle's loader (src/bundle/load.ts): a CommonJS library run with the code cache kept
 * beside it, used only when it was made from the very same source, and never needed.
 * A cache is only ever accepted by V8 in a fresh process, so those checks run in children.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { CODE_CACHE_ENV, codeCacheFileOf, loadBundle } from '../../dist/src/bundle/load.js';

const LOADER_URL = new URL('../../dist/src/bundle/load.js', import.meta.url).href;

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A library in a fresh dir: its exports report what the wrapper gave it. */
function library(answer = 41): string {
  const dir = mkdtempSync(join(tmpdir(), 'lsg-load-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'dep.cjs'), 'module.exports = { dep: "required" };\n');
  writeFileSync(join(dir, 'esm.mjs'), 'export const imported = "imported";\n');
  const file = join(dir, 'lib.cjs');
  writeFileSync(
    file,
    [
      `exports.answer = function answer() { return ${answer} + 1; };`,
      'exports.dep = require("./dep.cjs").dep;',
      'exports.file = __filename;',
      'exports.dir = __dirname;',
      'exports.thisIsExports = this === exports;',
      'exports.load = (url) => __loopbackImport(url);',
      '',
    ].join('\n'),
  );
  return file;
}

/** Loads `file` in a fresh Node process; returns its cache status and answer. */
function loadInChild(file: string, env: NodeJS.ProcessEnv = {}, flags: string[] = []): { cache: string; answer: number; stderr: string } {
  const script = `import { loadBundle } from ${JSON.stringify(LOADER_URL)};
const loaded = loadBundle(${JSON.stringify(file)});
process.stdout.write(JSON.stringify({ cache: loaded.cache, answer: loaded.exports.answer() }));`;
  const child = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, [CODE_CACHE_ENV]: '', ...env },
  });
  expect(child.status, child.stderr).toBe(0);
  return { ...JSON.parse(child.stdout), stderr: child.stderr };
}

describe('loadBundle', () => {
  it('runs a CommonJS library with the module wrapper, its own require, and an importer', async () => {
    const file = library();
    const loaded = loadBundle(pathToFileURL(file));
    expect(loaded.cache).toBe('absent');
    expect(loaded.file).toBe(file);
    const lib = loaded.exports as Record<string, unknown>;
    expect((lib.answer as () => number)()).toBe(42);
    expect(lib).toMatchObject({ dep: 'required', file, dir: join(file, '..'), thisIsExports: true });
    const namespace = await (lib.load as (url: string) => Promise<{ imported: string }>)(pathToFileURL(join(file, '..', 'esm.mjs')).href);
    expect(namespace.imported).toBe('imported');
  });

  it('saves a cache that a later process accepts, headed by the SHA-256 of the source', () => {
    const file = library();
    loadBundle(file).saveCodeCache();
    const cache = readFileSync(codeCacheFileOf(file));
    expect(cache.subarray(0, 32)).toEqual(createHash('sha256').update(readFileSync(file)).digest());
    expect(readdirSync(join(file, '..')).filter((name) => name.endsWith('.tmp'))).toEqual([]);
    expect(loadInChild(file)).toMatchObject({ cache: 'accepted', answer: 42 });
  });

  it('ignores the cache of another source, even one of the same length (V8 checks only the length)', () => {
    const file = library(41);
    const loaded = loadBundle(file);
    // Run first, so that the cache holds answer()'s compiled code too.
    expect((loaded.exports.answer as () => number)()).toBe(42);
    loaded.saveCodeCache();
    const before = readFileSync(file, 'utf8');
    writeFileSync(file, before.replace('41 + 1', '99 + 1'));
    expect(readFileSync(file, 'utf8')).toHaveLength(before.length);
    expect(loadInChild(file)).toMatchObject({ cache: 'stale', answer: 100 });
  });

  it('compiles the source as usual when V8 refuses the cache', () => {
    const file = library();
    loadBundle(file).saveCodeCache();
    const cache = readFileSync(codeCacheFileOf(file));
    cache.fill(0x5a, 32 + 8);
    writeFileSync(codeCacheFileOf(file), cache);
    expect(loadInChild(file)).toMatchObject({ cache: 'rejected', answer: 42 });
  });

  it("leaves the library to Node's own loader when source maps are on, and then makes no cache", () => {
    const file = library();
    loadBundle(file).saveCodeCache();
    expect(loadInChild(file, { [CODE_CACHE_ENV]: 'write' }, ['--enable-source-maps'])).toMatchObject({ cache: 'unused', answer: 42, stderr: '' });
  });

  it('treats a truncated cache file as stale', () => {
    const file = library();
    writeFileSync(codeCacheFileOf(file), Buffer.alloc(10));
    expect(loadBundle(file).cache).toBe('stale');
  });

  it(`writes the cache at exit with ${CODE_CACHE_ENV}=write, and says so when it cannot`, () => {
    const file = library();
    expect(loadInChild(file, { [CODE_CACHE_ENV]: 'write' })).toMatchObject({ cache: 'absent', stderr: '' });
    expect(existsSync(codeCacheFileOf(file))).toBe(true);
    expect(loadInChild(file)).toMatchObject({ cache: 'accepted', answer: 42 });

    // A directory where the cache file should be: it cannot be replaced.
    const other = library();
    mkdirSync(codeCacheFileOf(other));
    const result = loadInChild(other, { [CODE_CACHE_ENV]: 'write' });
    expect(result.answer).toBe(42);
    expect(result.stderr).toContain(`could not write the code cache ${codeCacheFileOf(other)}`);
    expect(readdirSync(join(other, '..')).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
});
