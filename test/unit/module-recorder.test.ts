/**
 * src/daemon/module-recorder.ts without a module hook (Node < 22.15, or before one is
 * registered): the scan from the factory module by literal local specifiers, what it skips,
 * the `require()` cache, the cap and the frozen record; and how a client compares that record
 * with the files now (src/runtime/module-files.ts). Each test loads the module afresh (its
 * record is per process) and works on files in a fresh temp dir, outside this repository
 * (whose files count as the package's own).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { hashFileContent, MAX_RECORDED_MODULES } from '../../src/runtime/module-files.js';

type Recorder = typeof import('../../src/daemon/module-recorder.js');

let dir: string;
let recorder: Recorder;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'lbs-modules-'));
  vi.resetModules();
  recorder = await import('../../src/daemon/module-recorder.js');
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Writes `files` (path relative to the temp dir -> source) and returns their absolute paths. */
function write(files: Record<string, string>): Record<string, string> {
  const paths: Record<string, string> = {};
  for (const [name, source] of Object.entries(files)) {
    const path = join(dir, name);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, source);
    paths[name] = path;
  }
  return paths;
}

describe('the module recorder, by scan', () => {
  it('says it scans when this Node has no in-thread module hook (and hooks when it has one)', () => {
    const hooks = typeof (nodeModule as { registerHooks?: unknown }).registerHooks === 'function';
    expect(recorder.startRecordingModules()).toBe(hooks ? 'hooks' : 'scan');
    expect(recorder.recordedModules()).toEqual({});
  });

  it('follows literal local specifiers from the factory (relative, absolute, file: URLs, dynamic, re-exports), each file once', () => {
    const sources: Record<string, string> = {
      'pkg/main.mjs': '',
      'pkg/b.mjs': "import { main } from './main.mjs';\nimport '../outside.mjs';\n",
      'pkg/sub/c.mjs': 'export const c = 1;\n',
      'pkg/d.mjs': 'export default 4;\n',
      'pkg/e.mjs': 'export const e = 5;\n',
      'pkg/f.mjs': 'export const f = 6;\n',
      'outside.mjs': 'export const o = 0;\n',
      // Not local: never recorded, and what it imports is not followed.
      'pkg/node_modules/dep/index.mjs': "import '../../deep.mjs';\n",
      'pkg/deep.mjs': 'export const deep = 1;\n',
    };
    const paths = write(sources);
    const main = [
      "import { b } from './b.mjs';",
      'export * from "./sub/c.mjs?query=1#frag";',
      "const d = await import('./d.mjs');",
      `import '${paths['pkg/e.mjs']}';`,
      `import f from '${pathToFileURL(paths['pkg/f.mjs']!).href}';`,
      "import fs from 'node:fs';",
      "import pkg from 'some-package';",
      "import dep from './node_modules/dep/index.mjs';",
      "// import './gone.mjs'",
      "import bad from 'file://[bad/x.mjs';",
      'const notAnImport = reimport("./deep.mjs");',
    ].join('\n');
    writeFileSync(paths['pkg/main.mjs']!, main);
    sources['pkg/main.mjs'] = main;
    recorder.settleRecordedModules(pathToFileURL(paths['pkg/main.mjs']!).href);
    const recorded = recorder.recordedModules();
    const expected = ['pkg/main.mjs', 'pkg/b.mjs', 'pkg/sub/c.mjs', 'pkg/d.mjs', 'pkg/e.mjs', 'pkg/f.mjs', 'outside.mjs'];
    expect(Object.keys(recorded).sort()).toEqual(expected.map((name) => paths[name]!).sort());
    for (const name of expected) expect(recorded[paths[name]!]).toBe(hashFileContent(Buffer.from(sources[name]!)));
    expect(recorder.unrecordedModules()).toBe(0);
  });

  it('hands out one frozen record until a new file is recorded', () => {
    const paths = write({ 'a.mjs': "import './b.mjs';", 'b.mjs': '', 'c.mjs': '' });
    recorder.settleRecordedModules(pathToFileURL(paths['a.mjs']!).href);
    const first = recorder.recordedModules();
    expect(Object.isFrozen(first)).toBe(true);
    expect(recorder.recordedModules()).toBe(first);
    // Already known: nothing changes.
    recorder.settleRecordedModules(pathToFileURL(paths['b.mjs']!).href);
    expect(recorder.recordedModules()).toBe(first);
    recorder.settleRecordedModules(pathToFileURL(paths['c.mjs']!).href);
    const second = recorder.recordedModules();
    expect(second).not.toBe(first);
    expect(Object.keys(second)).toHaveLength(3);
  });

  it('records a file under this package’s own directory never, and a factory URL that is not a file never', () => {
    recorder.settleRecordedModules(pathToFileURL(join(import.meta.dirname, 'module-recorder.test.ts')).href);
    recorder.settleRecordedModules('data:text/javascript,export default 1');
    recorder.settleRecordedModules(pathToFileURL(join(dir, 'missing.mjs')).href);
    const local = Object.keys(recorder.recordedModules());
    expect(local.filter((path) => path.startsWith(dir) || path.includes('/test/unit/'))).toEqual([]);
  });

  it('adds what require() loaded, up to the cap, and counts what it left out', () => {
    const names = Array.from({ length: MAX_RECORDED_MODULES + 4 }, (_, index) => `cjs/m${index}.cjs`);
    const paths = write(Object.fromEntries(names.map((name, index) => [name, `module.exports = ${index};`])));
    const require = nodeModule.createRequire(import.meta.url);
    for (const name of names) require(paths[name]!);
    try {
      recorder.settleRecordedModules(pathToFileURL(join(dir, 'missing.mjs')).href);
      const recorded = Object.keys(recorder.recordedModules());
      expect(recorded).toHaveLength(MAX_RECORDED_MODULES);
      const ours = recorded.filter((path) => path.startsWith(join(dir, 'cjs')));
      expect(ours.length).toBeGreaterThan(0);
      for (const path of ours) expect(recorder.recordedModules()[path]).toBe(hashFileContent(Buffer.from(`module.exports = ${Number(/m(\d+)\.cjs$/.exec(path)![1])};`)));
      // Every local file in the cache beyond the cap is counted.
      const local = Object.keys(require.cache).filter((path) => !path.includes('/node_modules/') && !path.startsWith(join(import.meta.dirname, '..', '..')));
      expect(recorder.unrecordedModules()).toBe(local.length - MAX_RECORDED_MODULES);
    } finally {
      for (const name of names) delete require.cache[paths[name]!];
    }
  });
});

describe('what a client compares with the record (src/runtime/module-files.ts)', () => {
  it('changedModules: edited and gone files (a directory or a path through a file counts as gone); other records ignored', async () => {
    const { changedModules, hashFile } = await import('../../src/runtime/module-files.js');
    const paths = write({ 'same.mjs': 'a', 'edited.mjs': 'b', 'gone.mjs': 'c', 'dir/x': 'd' });
    const recorded = {
      [paths['same.mjs']!]: hashFileContent(Buffer.from('a')),
      [paths['edited.mjs']!]: hashFileContent(Buffer.from('b')),
      [paths['gone.mjs']!]: hashFileContent(Buffer.from('c')),
      [join(dir, 'dir')]: 'a directory now',
      [join(paths['same.mjs']!, 'below')]: 'through a file',
      [join(dir, 'not-a-hash')]: 42,
    };
    writeFileSync(paths['edited.mjs']!, 'B');
    rmSync(paths['gone.mjs']!);
    expect(changedModules(recorded).sort()).toEqual([paths['edited.mjs'], paths['gone.mjs'], join(dir, 'dir'), join(paths['same.mjs']!, 'below')].sort());
    expect(changedModules(null)).toEqual([]);
    expect(changedModules('x')).toEqual([]);
    expect(hashFile(paths['same.mjs']!)).toBe(hashFileContent(Buffer.from('a')));
    expect(hashFile(paths['gone.mjs']!)).toBe('missing');
  });

  it('changedModules: a read that fails for another reason is a local fault, not a change', async () => {
    const { changedModules } = await import('../../src/runtime/module-files.js');
    const error = (() => {
      try {
        changedModules({ [join(dir, 'x'.repeat(300))]: 'h' });
      } catch (caught) {
        return caught as Error & { code: string };
      }
    })();
    expect(error?.code).toBe('ERR_LOOPBACK_SINGLETON');
    expect(error?.message).toMatch(/a module the daemon's factory loaded/);
  });
});
