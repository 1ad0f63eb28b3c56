/**
 * Factory references: parsing (the last `:` whose suffix is an identifier path),
 * the canonical form of the factory arguments, the factory identity, and package resolution.
 */
import { existsSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  canonicalArgs,
  computeFactoryId,
  describeChangedModules,
  describeMismatch,
  hashArgs,
  hashModuleCode,
  parseFactory,
  resolvePackage,
  setupIdentity,
  type FactoryReference,
} from '../../src/client/factory-ref.js';
import { resolveOptions } from '../../src/options.js';
import { hashFile } from '../../src/runtime/module-files.js';
import type { FactoryIdentity } from '../../src/types.js';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CWD = '/work/proj';

/** Escapes `text` for use inside a RegExp. */
function literal(text: string): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
}

describe('parseFactory: strings', () => {
  it('resolves a ./relative module against the given cwd to an absolute file: URL', () => {
    expect(parseFactory('./services.js:Counter', CWD)).toEqual({
      module: pathToFileURL(resolve(CWD, 'services.js')).href,
      export: 'Counter',
      needsResolution: false,
    });
    expect(parseFactory('./services.js:Counter', CWD).module).toBe('file:///work/proj/services.js');
  });

  it('resolves ../relative modules against the cwd too', () => {
    expect(parseFactory('../lib/services.js:Counter', CWD).module).toBe('file:///work/lib/services.js');
  });

  it('uses process.cwd() when no cwd is given', () => {
    expect(parseFactory('./services.js:Counter').module).toBe(pathToFileURL(resolve(process.cwd(), 'services.js')).href);
  });

  it('does not depend on the cwd for an absolute path', () => {
    expect(parseFactory('/abs/x.js:ns.Counter', CWD)).toEqual({ module: 'file:///abs/x.js', export: 'ns.Counter', needsResolution: false });
    expect(parseFactory('/abs/x.js:ns.Counter', '/elsewhere')).toEqual(parseFactory('/abs/x.js:ns.Counter', CWD));
  });

  it('keeps a file: URL without an export suffix whole and uses its default export', () => {
    expect(parseFactory('file:///x/y.js', CWD)).toEqual({ module: 'file:///x/y.js', export: 'default', needsResolution: false });
  });

  it('splits a file: URL at its last colon when an export follows', () => {
    expect(parseFactory('file:///x/y.js:Counter', CWD)).toEqual({ module: 'file:///x/y.js', export: 'Counter', needsResolution: false });
    expect(parseFactory('file:///x/y.js:a.b.C', CWD)).toEqual({ module: 'file:///x/y.js', export: 'a.b.C', needsResolution: false });
  });

  it('does not split a file: URL at a drive-letter colon', () => {
    expect(parseFactory('file:///C:/x/y.js', CWD)).toEqual({ module: 'file:///C:/x/y.js', export: 'default', needsResolution: false });
    expect(parseFactory('file:///C:/x/y.js:Counter', CWD)).toEqual({ module: 'file:///C:/x/y.js', export: 'Counter', needsResolution: false });
  });

  it('leaves a bare package specifier for later resolution', () => {
    expect(parseFactory('some-pkg:Thing', CWD)).toEqual({ module: 'some-pkg', export: 'Thing', needsResolution: true });
    expect(parseFactory('@scope/some-pkg/sub:ns.Thing', CWD)).toEqual({ module: '@scope/some-pkg/sub', export: 'ns.Thing', needsResolution: true });
  });

  it('uses the default export of a bare package named alone', () => {
    expect(parseFactory('some-pkg', CWD)).toEqual({ module: 'some-pkg', export: 'default', needsResolution: true });
  });

  it('splits only at the LAST colon, and only when its suffix is an identifier path', () => {
    // Windows-style path: the drive colon is never a split point, the last one is.
    const withExport = parseFactory('C:\\dir\\x.js:Counter', CWD);
    expect(withExport.export).toBe('Counter');
    const whole = parseFactory('C:\\dir\\x.js', CWD);
    expect(whole.export).toBe('default');
    if (process.platform === 'win32') {
      expect(withExport.module).toBe(pathToFileURL('C:\\dir\\x.js').href);
      expect(whole.module).toBe(pathToFileURL('C:\\dir\\x.js').href);
    } else {
      expect(withExport.module).toBe('C:\\dir\\x.js');
      expect(whole.module).toBe('C:\\dir\\x.js');
    }
    // A colon inside the path is part of the module.
    expect(parseFactory('/tmp/a:b/x.js:Counter', CWD)).toEqual({ module: pathToFileURL('/tmp/a:b/x.js').href, export: 'Counter', needsResolution: false });
    expect(parseFactory('/tmp/a:b/x.js', CWD)).toEqual({ module: pathToFileURL('/tmp/a:b/x.js').href, export: 'default', needsResolution: false });
  });

  it.each([
    ['$', '$'],
    ['_private', '_private'],
    ['Counter2', 'Counter2'],
    ['a.$b._c', 'a.$b._c'],
  ])('accepts the export path %s', (suffix, expected) => {
    expect(parseFactory(`/m.js:${suffix}`, CWD).export).toBe(expected);
  });

  it.each([['bad-name'], ['1abc'], ['a..b'], ['a.'], ['.a'], ['a b'], ['']])('treats a suffix %o that is not an identifier path as part of the module', (suffix) => {
    const parsed = parseFactory(`/m.js:${suffix}`, CWD);
    expect(parsed.export).toBe('default');
    expect(parsed.module).toBe(pathToFileURL(`/m.js:${suffix}`).href);
  });
});

describe('parseFactory: objects', () => {
  it('resolves a string module like the string form', () => {
    expect(parseFactory({ module: './services.js', export: 'Counter' }, CWD)).toEqual({
      module: 'file:///work/proj/services.js',
      export: 'Counter',
      needsResolution: false,
    });
    expect(parseFactory({ module: 'some-pkg', export: 'ns.Thing' }, CWD)).toEqual({ module: 'some-pkg', export: 'ns.Thing', needsResolution: true });
  });

  it('takes a URL module as is', () => {
    const url = new URL('../fixtures/services.mjs', import.meta.url);
    expect(parseFactory({ module: url, export: 'Counter' }, CWD)).toEqual({ module: url.href, export: 'Counter', needsResolution: false });
  });

  it('defaults the export to "default"', () => {
    expect(parseFactory({ module: new URL('file:///x/y.js') }, CWD).export).toBe('default');
    expect(parseFactory({ module: '/x/y.js' }, CWD)).toEqual({ module: 'file:///x/y.js', export: 'default', needsResolution: false });
  });

  it('does not split a colon in an object-form module string', () => {
    expect(parseFactory({ module: '/x/y.js:Counter' }, CWD)).toEqual({ module: pathToFileURL('/x/y.js:Counter').href, export: 'default', needsResolution: false });
  });
});

describe('parseFactory: invalid references', () => {
  it.each<[string, unknown]>([
    ['an empty string', ''],
    ['a number', 5],
    ['null', null],
    ['undefined', undefined],
    ['a boolean', true],
    ['a function', () => 'x'],
    ['an object with a numeric module', { module: 5 }],
    ['an object without a module', { export: 'Counter' }],
    ['an object with an empty module', { module: '' }],
    ['an object with a null module', { module: null }],
    ['an object with a bad export name', { module: './x.js', export: 'bad-name' }],
    ['an object with an empty export', { module: './x.js', export: '' }],
    ['an object with a numeric export', { module: './x.js', export: 5 }],
    ['an object with a dotted-wrong export', { module: './x.js', export: 'a..b' }],
  ])('rejects %s with a TypeError', (_label, factory) => {
    expect(() => parseFactory(factory as FactoryReference, CWD)).toThrow(TypeError);
  });

  it('names the bad part in its message', () => {
    expect(() => parseFactory({ module: './x.js', export: 'bad-name' }, CWD)).toThrow(/factory\.export.*bad-name/);
    expect(() => parseFactory({ module: 5 } as unknown as FactoryReference, CWD)).toThrow(/factory\.module/);
    expect(() => parseFactory(5 as unknown as FactoryReference, CWD)).toThrow(/factory/);
  });
});

describe('canonicalArgs', () => {
  it('does not depend on object key order, at any depth', () => {
    expect(canonicalArgs({ a: 1, b: 2 })).toBe(canonicalArgs({ b: 2, a: 1 }));
    expect(canonicalArgs([{ x: { p: 1, q: [1, { m: 1, n: 2 }] }, y: 2 }])).toBe(canonicalArgs([{ y: 2, x: { q: [1, { n: 2, m: 1 }], p: 1 } }]));
  });

  it('is deterministic', () => {
    const args = [10, { step: 2, name: 'c', tags: ['a', 'b'] }, null, true, 3n];
    expect(canonicalArgs(args)).toBe(canonicalArgs(structuredClone(args)));
  });

  it.each<[string, unknown, unknown]>([
    ['1 and "1"', 1, '1'],
    ['1 and 1n', 1, 1n],
    ['"1" and 1n', '1', 1n],
    ['null and undefined', null, undefined],
    ['null and "null"', null, 'null'],
    ['true and "t"', true, 't'],
    ['false and 0', false, 0],
    ['undefined and "u"', undefined, 'u'],
    ['[] and {}', [], {}],
    ['[1, 2] and [[1, 2]]', [1, 2], [[1, 2]]],
    ['[[1, [2]]] and [[1, 2]]', [[1, [2]]], [[1, 2]]],
    ['[[1], [2]] and [[1, 2]]', [[1], [2]], [[1, 2]]],
    ['["a,b"] and ["a", "b"]', ['a,b'], ['a', 'b']],
    ['{a: 1} and {a: "1"}', { a: 1 }, { a: '1' }],
    ['{a: 1} and {b: 1}', { a: 1 }, { b: 1 }],
    ['{a: undefined} and {}', { a: undefined }, {}],
    ['Uint8Array [1, 2] and [1, 2]', new Uint8Array([1, 2]), [1, 2]],
    ['Uint8Array [1, 2] and Uint8Array [1, 3]', new Uint8Array([1, 2]), new Uint8Array([1, 3])],
    ['Uint8Array [1, 2] and "x0102"', new Uint8Array([1, 2]), 'x0102'],
    ['Date(0) and 0', new Date(0), 0],
    ['Date(0) and Date(1)', new Date(0), new Date(1)],
    ['Date(0) and its ISO string', new Date(0), new Date(0).toISOString()],
  ])('distinguishes %s', (_label, a, b) => {
    expect(canonicalArgs(a)).not.toBe(canonicalArgs(b));
    expect(canonicalArgs([a])).not.toBe(canonicalArgs([b]));
  });

  it('gives equal Uint8Arrays and equal Dates the same form', () => {
    expect(canonicalArgs([new Uint8Array([1, 2, 255])])).toBe(canonicalArgs([new Uint8Array([1, 2, 255])]));
    // A view: only its own bytes count, not the rest of the buffer.
    const view = new Uint8Array(new Uint8Array([9, 1, 2, 255, 9]).buffer, 1, 3);
    expect(canonicalArgs([view])).toBe(canonicalArgs([new Uint8Array([1, 2, 255])]));
    expect(canonicalArgs([new Date(1234)])).toBe(canonicalArgs([new Date(1234)]));
  });

  it('accepts the same object twice when it is shared, not circular', () => {
    const shared = { a: 1 };
    expect(() => canonicalArgs([shared, shared, { again: shared }])).not.toThrow();
    expect(canonicalArgs([shared, shared])).toBe(canonicalArgs([{ a: 1 }, { a: 1 }]));
  });

  it('accepts an object with a null prototype like a plain object', () => {
    const bare = Object.assign(Object.create(null) as object, { b: 2, a: 1 });
    expect(canonicalArgs([bare])).toBe(canonicalArgs([{ a: 1, b: 2 }]));
  });

  it('accepts bigints at both ends of the 64-bit range', () => {
    expect(() => canonicalArgs([2n ** 64n - 1n, -(2n ** 63n)])).not.toThrow();
  });

  class Point {
    constructor(
      readonly x: number,
      readonly y: number,
    ) {}
  }
  const circular: Record<string, unknown> = { a: 1 };
  circular.self = circular;
  const circularArray: unknown[] = [1];
  circularArray.push(circularArray);

  it.each<[string, unknown, string, RegExp]>([
    ['a function', [0, { x: () => 1 }], 'args[1].x', /function/],
    ['a class', [class Foo {}], 'args[0]', /function/],
    ['a symbol', [0, { x: Symbol('s') }], 'args[1].x', /symbol/],
    ['a Map', [new Map([[1, 2]])], 'args[0]', /Map/],
    ['a Set', [0, 1, { s: new Set([1]) }], 'args[2].s', /Set/],
    ['a custom class instance', [{ p: new Point(1, 2) }], 'args[0].p', /Point/],
    ['a RegExp', [{ r: /x/ }], 'args[0].r', /RegExp/],
    ['an Error', [new Error('x')], 'args[0]', /Error/],
    ['a boxed number', [{ n: new Number(1) }], 'args[0].n', /Number/],
    ['a circular object', [circular], 'args[0].self', /circular/],
    ['a circular array', circularArray, 'args[1]', /circular/],
    ['a bigint of 2^64', [{ big: 2n ** 64n }], 'args[0].big', /bigint/],
    ['a bigint below -2^63', [[-(2n ** 63n) - 1n]], 'args[0][0]', /bigint/],
  ])('rejects %s with a TypeError naming its path', (_label, args, path, kind) => {
    const attempt = () => canonicalArgs(args);
    expect(attempt).toThrow(TypeError);
    expect(attempt).toThrow(literal(`\`${path}\``));
    expect(attempt).toThrow(kind);
  });

  it('uses the path it is given as the root name', () => {
    expect(() => canonicalArgs({ f: () => 1 }, 'options.args')).toThrow(literal('`options.args.f`'));
  });

  it('leaves no trace between calls (the circularity check starts afresh)', () => {
    const object = { a: 1 };
    expect(() => canonicalArgs([object])).not.toThrow();
    expect(() => canonicalArgs([object])).not.toThrow();
  });
});

describe('computeFactoryId', () => {
  const module = 'file:///x/services.js';
  const identity = (over: Partial<FactoryIdentity> = {}): FactoryIdentity => ({
    module,
    export: 'Counter',
    argsHash: hashArgs(canonicalArgs([10, { step: 2 }])),
    codeHash: 'c0de',
    ...over,
  });
  const id = computeFactoryId(identity(), '1.0.0');

  it('is stable for the same identity, whatever the key order of the arguments', () => {
    expect(computeFactoryId(identity(), '1.0.0')).toBe(id);
    expect(computeFactoryId(identity({ argsHash: hashArgs(canonicalArgs([10, { max: 5, step: 2 }])) }), '1.0.0')).toBe(
      computeFactoryId(identity({ argsHash: hashArgs(canonicalArgs([10, { step: 2, max: 5 }])) }), '1.0.0'),
    );
  });

  it.each([
    ['the module', { module: 'file:///y/services.js' }],
    ['the export', { export: 'ns.Counter' }],
    ['the arguments', { argsHash: hashArgs(canonicalArgs([11, { step: 2 }])) }],
    ['the code', { codeHash: 'c0ffee' }],
    ['a missing code hash', { codeHash: undefined }],
    ['an identity env value', { env: { NODE_ENV: 'aaaa' } }],
    ['an identity value', { valueHash: 'v3' }],
    ['the execArgv option', { execArgv: ['--no-warnings'] }],
    ['an empty execArgv option (no flags, not the inherited ones)', { execArgv: [] }],
  ] as const)('differs when %s differs', (_label, over) => {
    expect(computeFactoryId(identity(over), '1.0.0')).not.toBe(id);
  });

  it('differs when the package version differs', () => {
    expect(computeFactoryId(identity(), '1.0.1')).not.toBe(id);
  });
});

describe('describeMismatch', () => {
  const base: FactoryIdentity = { module: 'file:///x/a.js', export: 'A', argsHash: 'a1', codeHash: 'c1' };

  it('names each part that differs', () => {
    expect(describeMismatch({ ...base, argsHash: 'a2' }, '1.0.0', base, '1.0.0')).toEqual(['it was started with other arguments']);
    expect(describeMismatch({ ...base, codeHash: 'c2' }, '1.0.0', base, '1.0.0')[0]).toMatch(/code has changed/);
    expect(describeMismatch(base, '0.9.0', base, '1.0.0')[0]).toMatch(/0\.9\.0.*1\.0\.0/);
    expect(describeMismatch({ ...base, export: 'B' }, '1.0.0', base, '1.0.0')[0]).toMatch(/a\.js:B, not .*a\.js:A/);
    expect(describeMismatch({ ...base, argsHash: 'x', codeHash: 'y' }, '0.1.0', base, '1.0.0')).toHaveLength(3);
  });

  it('copes with a daemon that does not describe its factory', () => {
    expect(describeMismatch(undefined, '1.0.0', base, '1.0.0')).toEqual(['it does not say what it runs']);
  });
});

describe('setupIdentity', () => {
  const setup = (options: Parameters<typeof resolveOptions>[0], env: NodeJS.ProcessEnv) => setupIdentity(resolveOptions(options), env);

  it('adds nothing without the identity and execArgv options', () => {
    expect(setup({}, { NODE_ENV: 'test' })).toEqual({});
  });

  it('hashes each named env value; the value itself is nowhere in it', () => {
    const secret = 'postgres://admin:hunter2@db/prod';
    const identity = setup({ identity: { env: ['NODE_ENV', 'DATABASE_URL', 'UNSET_ONE'] } }, { NODE_ENV: 'production', DATABASE_URL: secret });
    expect(Object.keys(identity.env!)).toEqual(['DATABASE_URL', 'NODE_ENV', 'UNSET_ONE']);
    expect(identity.env!.NODE_ENV).toMatch(/^[0-9a-f]{12}$/);
    expect(identity.env!.UNSET_ONE).toBe('unset');
    expect(JSON.stringify(identity)).not.toContain('hunter2');
    expect(JSON.stringify(identity)).not.toContain('production');
    // An empty value is a value, not "unset".
    expect(setup({ identity: { env: ['A'] } }, { A: '' }).env!.A).not.toBe('unset');
  });

  it('gives different hashes for different values, and for the same value under another name', () => {
    const a = setup({ identity: { env: ['NODE_ENV'] } }, { NODE_ENV: 'test' }).env!.NODE_ENV;
    expect(setup({ identity: { env: ['NODE_ENV'] } }, { NODE_ENV: 'test' }).env!.NODE_ENV).toBe(a);
    expect(setup({ identity: { env: ['NODE_ENV'] } }, { NODE_ENV: 'production' }).env!.NODE_ENV).not.toBe(a);
    expect(setup({ identity: { env: ['APP_ENV'] } }, { APP_ENV: 'test' }).env!.APP_ENV).not.toBe(a);
  });

  it('hashes the value, and carries execArgv as given', () => {
    const identity = setup({ identity: { value: 'v3' }, execArgv: ['--conditions=prod'] }, {});
    expect(identity.valueHash).toMatch(/^[0-9a-f]{32}$/);
    expect(identity.execArgv).toEqual(['--conditions=prod']);
    expect(setup({ identity: { value: 'v4' } }, {}).valueHash).not.toBe(identity.valueHash);
  });

  it('makes the factoryId differ between clients whose named env differs', () => {
    const base: FactoryIdentity = { module: 'file:///x/a.js', export: 'A', argsHash: 'a1', codeHash: 'c1' };
    const test = { ...base, ...setup({ identity: { env: ['NODE_ENV'] } }, { NODE_ENV: 'test' }) };
    const prod = { ...base, ...setup({ identity: { env: ['NODE_ENV'] } }, { NODE_ENV: 'production' }) };
    expect(computeFactoryId(test, '1.0.0')).not.toBe(computeFactoryId(prod, '1.0.0'));
    // Without the identity option the env is not part of it: both are served by one daemon.
    expect(computeFactoryId({ ...base, ...setup({}, { NODE_ENV: 'test' }) }, '1.0.0')).toBe(
      computeFactoryId({ ...base, ...setup({}, { NODE_ENV: 'production' }) }, '1.0.0'),
    );
  });
});

describe('describeMismatch: setup', () => {
  const base: FactoryIdentity = { module: 'file:///x/a.js', export: 'A', argsHash: 'a1', codeHash: 'c1' };

  it('names the env key that differs, with hashes and never the values', () => {
    const running = { ...base, ...setupIdentity(resolveOptions({ identity: { env: ['DATABASE_URL', 'NODE_ENV'] } }), { NODE_ENV: 'test', DATABASE_URL: 'db://x' }) };
    const wanted = { ...base, ...setupIdentity(resolveOptions({ identity: { env: ['DATABASE_URL', 'NODE_ENV'] } }), { NODE_ENV: 'production', DATABASE_URL: 'db://x' }) };
    const differences = describeMismatch(running, '1.0.0', wanted, '1.0.0');
    expect(differences).toEqual([`env NODE_ENV differs (daemon ${running.env!.NODE_ENV}, this client ${wanted.env!.NODE_ENV}: hashes of the values)`]);
    expect(differences.join()).not.toMatch(/production|test|db:/);
  });

  it('says when one side names an env key the other does not', () => {
    const named = { ...base, env: { NODE_ENV: 'abc' } };
    expect(describeMismatch(base, '1.0.0', named, '1.0.0')).toEqual(["its identity does not include env NODE_ENV, this client's does"]);
    expect(describeMismatch(named, '1.0.0', base, '1.0.0')).toEqual(["its identity includes env NODE_ENV, this client's does not"]);
  });

  it('names another identity value and other flags', () => {
    expect(describeMismatch({ ...base, valueHash: 'x' }, '1.0.0', { ...base, valueHash: 'y' }, '1.0.0')).toEqual(['it was started with another `identity.value`']);
    expect(describeMismatch(base, '1.0.0', { ...base, execArgv: ['--a'] }, '1.0.0')).toEqual([`it runs with the spawner's flags, this client asks for ["--a"]`]);
    expect(describeMismatch({ ...base, execArgv: [] }, '1.0.0', { ...base, execArgv: ['--a'] }, '1.0.0')).toEqual([
      'it runs with no flags, this client asks for ["--a"]',
    ]);
  });
});

describe('describeChangedModules', () => {
  it('is empty while the recorded files are unchanged, and names an edited or deleted one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbs-modules-'));
    try {
      const a = join(dir, 'a.mjs');
      const b = join(dir, 'b.mjs');
      writeFileSync(a, 'export const a = 1;\n');
      writeFileSync(b, 'export const b = 1;\n');
      const recorded = { [a]: hashFile(a), [b]: hashFile(b) };
      expect(describeChangedModules(recorded)).toEqual([]);
      // Same size, so a size check alone would miss it.
      writeFileSync(a, 'export const a = 2;\n');
      expect(describeChangedModules(recorded)).toEqual([`the code of a module its factory loaded has changed since it started (${a})`]);
      rmSync(b);
      expect(describeChangedModules(recorded)[0]).toMatch(/the code of modules .*a\.mjs, .*b\.mjs/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('copes with a daemon that records nothing (an older one)', () => {
    expect(describeChangedModules(undefined)).toEqual([]);
    expect(describeChangedModules({})).toEqual([]);
  });
});

describe('hashModuleCode', () => {
  it('hashes a readable file and changes when the file changes; other URLs have none', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbs-code-'));
    try {
      const file = join(dir, 'm.mjs');
      writeFileSync(file, 'export const a = 1;\n');
      const first = hashModuleCode(pathToFileURL(file).href);
      expect(first).toMatch(/^[0-9a-f]{32}$/);
      expect(hashModuleCode(pathToFileURL(file).href)).toBe(first);
      writeFileSync(file, 'export const a = 2;\n');
      expect(hashModuleCode(pathToFileURL(file).href)).not.toBe(first);
      expect(hashModuleCode(pathToFileURL(join(dir, 'missing.mjs')).href)).toBeUndefined();
      expect(hashModuleCode('node:events')).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('resolvePackage', () => {
  it.each([['xstate'], ['p-queue']])('resolves the installed package %s from the repo root to an absolute file: URL', async (name) => {
    const url = await resolvePackage(name, REPO_ROOT);
    expect(url).toMatch(/^file:\/\//);
    const path = fileURLToPath(url);
    // Real paths: node_modules may be a link (as in a mutation run's sandbox).
    expect(path.startsWith(realpathSync(resolve(REPO_ROOT, 'node_modules', name)))).toBe(true);
    expect(existsSync(path)).toBe(true);
  });

  it('resolves a package the same from a subdirectory of the project', async () => {
    expect(await resolvePackage('xstate', resolve(REPO_ROOT, 'test', 'unit'))).toBe(await resolvePackage('xstate', REPO_ROOT));
  });

  it('keeps a node: builtin as it is', async () => {
    await expect(resolvePackage('node:events', REPO_ROOT)).resolves.toBe('node:events');
  });

  it('rejects an unknown package with a TypeError naming it', async () => {
    await expect(resolvePackage('surely-not-installed-pkg-xyz', REPO_ROOT)).rejects.toThrow(TypeError);
    await expect(resolvePackage('surely-not-installed-pkg-xyz', REPO_ROOT)).rejects.toThrow(/surely-not-installed-pkg-xyz/);
  });

  it('rejects a package that is not reachable from the given cwd', async () => {
    await expect(resolvePackage('p-queue', '/')).rejects.toThrow(TypeError);
  });
});
