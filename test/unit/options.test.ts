/**
 * `resolveOptions()` against the README's option table, and the synchronous, I/O-free
 * construction of `localSingleton()`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalSingletonService, localSingleton } from '../../src/client/service.js';
import { DEFAULT_OPTIONS, resolveOptions, type LocalSingletonOptions } from '../../src/options.js';

const MiB = 1024 * 1024;

/** The largest delay `setTimeout` honours; anything above fires after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Options passed as `unknown`, to feed the validator what the types would forbid. */
function resolveUnknown(options: unknown) {
  return resolveOptions(options as LocalSingletonOptions);
}

/** Escapes `text` for use inside a RegExp. */
function literal(text: string): RegExp {
  return new RegExp(text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
}

/** A runtime root that does not exist (nor does its parent). */
function missingRoot(): string {
  return join(tmpdir(), `lbs-missing-${process.pid}-${randomBytes(6).toString('hex')}`, 'root');
}

describe('resolveOptions: defaults', () => {
  it("applies exactly the README's defaults when no options are given", () => {
    expect(resolveOptions(undefined)).toEqual({
      args: [],
      scope: 'user',
      idleTtlMs: 2000,
      transport: 'tcp',
      connectTimeoutMs: 500,
      startTimeoutMs: 5000,
      drainTimeoutMs: 5000,
      callTimeoutMs: undefined,
      maxFrameBytes: 16 * MiB,
      maxQueuedCalls: 10_000,
      runtimeDir: undefined,
      restart: { maxRestarts: 3, periodMs: 10_000 },
      onMismatch: 'error',
      identity: { env: [], value: undefined },
      execArgv: undefined,
    });
  });

  it('treats {} like no options at all', () => {
    expect(resolveOptions({})).toEqual(resolveOptions(undefined));
  });

  it('treats an option explicitly set to undefined as absent', () => {
    const explicit = resolveUnknown({
      args: undefined,
      scope: undefined,
      idleTtlMs: undefined,
      transport: undefined,
      connectTimeoutMs: undefined,
      startTimeoutMs: undefined,
      drainTimeoutMs: undefined,
      callTimeoutMs: undefined,
      maxFrameBytes: undefined,
      maxQueuedCalls: undefined,
      runtimeDir: undefined,
    });
    expect(explicit).toEqual(resolveOptions(undefined));
  });

  it('exports the same defaults it applies', () => {
    const resolved = resolveOptions({});
    for (const [key, value] of Object.entries(DEFAULT_OPTIONS)) {
      expect(resolved[key as keyof typeof resolved], key).toBe(value);
    }
    expect(DEFAULT_OPTIONS.maxFrameBytes).toBe(16 * MiB);
  });
});

describe('resolveOptions: valid values', () => {
  it.each<[keyof LocalSingletonOptions, unknown]>([
    ['args', []],
    ['args', [10, { step: 2 }]],
    ['args', [null, 'x', [1, 2], { nested: { deep: true } }]],
    ['scope', 'user'],
    ['idleTtlMs', 0],
    ['idleTtlMs', 1],
    ['idleTtlMs', 2000],
    ['idleTtlMs', 60_000],
    ['transport', 'tcp'],
    ['transport', 'ipc'],
    ['connectTimeoutMs', 1],
    ['connectTimeoutMs', 500],
    ['connectTimeoutMs', 10_000],
    ['startTimeoutMs', 1],
    ['startTimeoutMs', 5000],
    ['startTimeoutMs', 120_000],
    ['callTimeoutMs', 1],
    ['callTimeoutMs', 250],
    ['callTimeoutMs', 3_600_000],
    ['maxFrameBytes', 1024],
    ['maxFrameBytes', 64 * 1024],
    ['maxFrameBytes', 16 * MiB],
    ['maxFrameBytes', 0xffffffff],
    ['maxQueuedCalls', 1],
    ['maxQueuedCalls', 10_000],
    ['maxQueuedCalls', 1_000_000],
    ['runtimeDir', '/tmp/some-root'],
    ['runtimeDir', 'relative/root'],
  ])('accepts %s = %o and keeps it', (key, value) => {
    const resolved = resolveUnknown({ [key]: value });
    expect(resolved[key]).toEqual(value);
  });

  it('keeps every other option at its default when one is set', () => {
    const resolved = resolveOptions({ idleTtlMs: 50 });
    expect(resolved).toEqual({ ...resolveOptions(undefined), idleTtlMs: 50 });
  });

  it('accepts every option at once', () => {
    const options: LocalSingletonOptions = {
      args: [1],
      scope: 'user',
      idleTtlMs: 10,
      transport: 'ipc',
      connectTimeoutMs: 20,
      startTimeoutMs: 30,
      drainTimeoutMs: 0,
      callTimeoutMs: 40,
      maxFrameBytes: 2048,
      maxQueuedCalls: 5,
      runtimeDir: '/tmp/r',
      restart: { maxRestarts: 0, periodMs: 1 },
      onMismatch: 'replace',
      identity: { env: ['NODE_ENV'] },
      execArgv: ['--no-warnings'],
    };
    expect(resolveOptions(options)).toEqual({ ...options, identity: { env: ['NODE_ENV'], value: undefined } });
    expect(resolveOptions({ restart: false }).restart).toBe(false);
  });

  it.each([
    [{ restart: true }, /restart/],
    [{ restart: null }, /restart/],
    [{ restart: { maxRestarts: -1, periodMs: 10 } }, /restart\.maxRestarts/],
    [{ restart: { maxRestarts: 1.5, periodMs: 10 } }, /restart\.maxRestarts/],
    [{ restart: { maxRestarts: 1 } }, /restart\.periodMs/],
    [{ restart: { maxRestarts: 1, periodMs: 0 } }, /restart\.periodMs/],
    [{ restart: { maxRestarts: 1, periodMs: 2 ** 31 } }, /restart\.periodMs/],
    [{ restart: { maxRestarts: 1, periodMs: 10, intensity: 3 } }, /restart\.intensity/],
    [{ onMismatch: 'ignore' }, /onMismatch/],
    [{ onMismatch: null }, /onMismatch/],
  ])('rejects the supervision option %o with a TypeError naming it', (options, pattern) => {
    expect(() => resolveOptions(options as never)).toThrow(TypeError);
    expect(() => resolveOptions(options as never)).toThrow(pattern);
  });
});

describe('resolveOptions: invalid values', () => {
  const durations = ['idleTtlMs', 'connectTimeoutMs', 'startTimeoutMs', 'drainTimeoutMs', 'callTimeoutMs'] as const;

  // [option, bad value, how the message shows the value]
  const cases: Array<[string, unknown, RegExp]> = [];
  for (const key of durations) {
    cases.push(
      [key, -1, /-1/],
      [key, Number.NaN, /NaN/],
      [key, Number.POSITIVE_INFINITY, /Infinity/],
      [key, Number.NEGATIVE_INFINITY, /-Infinity/],
      [key, '100', /"100".*string/],
      [key, null, /null/],
      [key, true, /true.*boolean/],
      [key, 10n, /10n.*bigint/],
      [key, [100], /array/],
      [key, { ms: 100 }, /object/],
    );
  }
  // A zero-length connect/start/call deadline is meaningless; an idle TTL of 0 is not.
  cases.push(['connectTimeoutMs', 0, /`0`/], ['startTimeoutMs', 0, /`0`/], ['callTimeoutMs', 0, /`0`/]);
  for (const key of ['maxFrameBytes', 'maxQueuedCalls'] as const) {
    cases.push(
      [key, -1, /-1/],
      [key, Number.NaN, /NaN/],
      [key, Number.POSITIVE_INFINITY, /Infinity/],
      [key, '4096', /"4096".*string/],
      [key, 4096.5, /4096\.5/],
      [key, null, /null/],
    );
  }
  cases.push(
    ['maxFrameBytes', 0, /`0`/],
    ['maxFrameBytes', 1023, /1023/],
    ['maxFrameBytes', 0xffffffff + 1, /4294967296/],
    ['maxFrameBytes', 2 ** 53, /9007199254740992/],
    ['maxQueuedCalls', 0, /`0`/],
    ['maxQueuedCalls', 1.5, /1\.5/],
    ['scope', 'machine', /"machine"/],
    ['scope', 'USER', /"USER"/],
    ['scope', '', /""/],
    ['scope', null, /null/],
    ['transport', 'udp', /"udp"/],
    ['transport', 'TCP', /"TCP"/],
    ['transport', '', /""/],
    ['transport', 1, /`1`.*number/],
    ['transport', null, /null/],
    ['runtimeDir', '', /""/],
    ['runtimeDir', 42, /42.*number/],
    ['runtimeDir', null, /null/],
    ['runtimeDir', new URL('file:///tmp/x'), /object/],
    ['args', 'abc', /"abc".*string/],
    ['args', { 0: 1, length: 1 }, /object/],
    ['args', 5, /`5`.*number/],
    ['args', null, /null/],
  );

  it.each(cases)('rejects %s = %o with a TypeError naming the option and the value', (key, value, shown) => {
    const attempt = () => resolveUnknown({ [key]: value });
    expect(attempt).toThrow(TypeError);
    expect(attempt).toThrow(new RegExp(`\`${key}\``));
    expect(attempt).toThrow(shown);
  });

  it.each(durations)('never accepts a %s that setTimeout would cut down to 1 ms', (key) => {
    // Node fires any delay above 2^31-1 ms after 1 ms (TimeoutOverflowWarning): a long
    // "effectively never" TTL or deadline would become an immediate one. Rejecting the
    // value or clamping it into range are both fine; passing it through is not.
    for (const value of [MAX_TIMER_MS + 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      let resolved: ReturnType<typeof resolveOptions>;
      try {
        resolved = resolveUnknown({ [key]: value });
      } catch (error) {
        expect(error).toBeInstanceOf(TypeError);
        expect((error as Error).message).toMatch(new RegExp(`\`${key}\``));
        continue;
      }
      expect(resolved[key], `${key} = ${value}`).toBeLessThanOrEqual(MAX_TIMER_MS);
    }
  });

  it.each(durations)('accepts a %s of exactly 2^31-1 ms', (key) => {
    expect(resolveUnknown({ [key]: MAX_TIMER_MS })[key]).toBe(MAX_TIMER_MS);
  });

  it.each([
    ['a string', 'fast', /"fast".*string/],
    ['a number', 5, /`5`.*number/],
    ['null', null, /null/],
    ['an array', [{ idleTtlMs: 1 }], /array/],
    ['a function', () => ({}), /function/],
    ['a boolean', true, /true/],
  ])('rejects options that are %s', (_label, options, shown) => {
    const attempt = () => resolveUnknown(options);
    expect(attempt).toThrow(TypeError);
    expect(attempt).toThrow(/`options`/);
    expect(attempt).toThrow(shown);
  });

  it.each([['idleTTL'], ['idleTtl'], ['timeout'], ['maxFrameSize'], ['constructor']])('rejects the unknown option %s and names it', (key) => {
    const attempt = () => resolveUnknown({ [key]: 1 });
    expect(attempt).toThrow(TypeError);
    expect(attempt).toThrow(literal(`\`${key}\``));
  });

  it('lists the real option names when it rejects a misspelt one', () => {
    expect(() => resolveUnknown({ idleTTL: 1000 })).toThrow(/idleTtlMs/);
  });

  it('rejects an unknown option even when every known one is valid', () => {
    expect(() => resolveUnknown({ idleTtlMs: 10, transport: 'ipc', idleTTL: 10 })).toThrow(/idleTTL/);
  });
});

describe('localSingleton: construction', () => {
  it.each([
    ['empty', ''],
    ['"."', '.'],
    ['".."', '..'],
    ['a slash', 'a/b'],
    ['a parent path', '../x'],
    ['a backslash', 'a\\b'],
    ['65 characters', 'x'.repeat(65)],
    ['a space', 'a b'],
    ['a NUL byte', 'a\0b'],
  ])('rejects a name with %s synchronously with a TypeError', (_label, name) => {
    expect(() => localSingleton(name, './services.js:Counter', { runtimeDir: missingRoot() })).toThrow(TypeError);
    expect(() => localSingleton(name, './services.js:Counter', { runtimeDir: missingRoot() })).toThrow(/name/i);
  });

  it.each([[42], [undefined], [null], [{ name: 'x' }], [['x']]])('rejects the non-string name %o synchronously with a TypeError', (name) => {
    expect(() => localSingleton(name as unknown as string, './services.js:Counter')).toThrow(TypeError);
  });

  it.each([['a'], ['my-counter'], ['A.b_c-1'], ['x'.repeat(64)], ['...']])('accepts the name %s', (name) => {
    expect(localSingleton(name, './services.js:Counter', { runtimeDir: missingRoot() }).name).toBe(name);
  });

  it('rejects a bad factory reference synchronously with a TypeError', () => {
    expect(() => localSingleton('ok', '', { runtimeDir: missingRoot() })).toThrow(TypeError);
    expect(() => localSingleton('ok', 42 as unknown as string, { runtimeDir: missingRoot() })).toThrow(TypeError);
    expect(() => localSingleton('ok', { module: './x.js', export: 'bad-name' }, { runtimeDir: missingRoot() })).toThrow(TypeError);
  });

  it('rejects bad options synchronously with a TypeError', () => {
    expect(() => localSingleton('ok', './x.js:C', { idleTTL: 1 } as LocalSingletonOptions)).toThrow(/idleTTL/);
    expect(() => localSingleton('ok', './x.js:C', { idleTtlMs: -1 })).toThrow(TypeError);
    expect(() => localSingleton('ok', './x.js:C', { scope: 'machine' as 'user' })).toThrow(/scope/);
  });

  it('rejects factory arguments that cannot reach the daemon synchronously, naming them', () => {
    const attempt = () => localSingleton('ok', './x.js:C', { args: [1, { x: () => 1 }], runtimeDir: missingRoot() });
    expect(attempt).toThrow(TypeError);
    expect(attempt).toThrow(literal('args[1].x'));
  });

  it('does no I/O: the runtime root it names is not created', () => {
    const root = missingRoot();
    const svc = localSingleton('io-free', './services.js:Counter', { runtimeDir: root });
    expect(svc).toBeInstanceOf(LocalSingletonService);
    expect(existsSync(root)).toBe(false);
    expect(existsSync(join(root, '..'))).toBe(false);
    expect(existsSync(svc.paths.dir)).toBe(false);
  });

  it('does no I/O even for a bare package specifier, which is resolved only when used', () => {
    const root = missingRoot();
    expect(() => localSingleton('pkg', 'surely-not-installed-pkg-xyz:Thing', { runtimeDir: root })).not.toThrow();
    expect(existsSync(root)).toBe(false);
  });

  it('names the five runtime files of the README, absolute, under <runtimeDir>/<name>/', () => {
    const root = missingRoot();
    const svc = localSingleton('my-counter', './services.js:Counter', { runtimeDir: root });
    const dir = join(root, 'my-counter');
    expect(Object.keys(svc.paths).sort()).toEqual(['dir', 'lock', 'log', 'metadata', 'token']);
    expect(svc.paths.dir).toBe(dir);
    expect(svc.paths.metadata).toBe(join(dir, 'metadata.json'));
    expect(svc.paths.token).toBe(join(dir, 'token'));
    expect(svc.paths.log).toBe(join(dir, 'daemon.log'));
    // The lock's name is the design's own; it must live in the runtime dir, apart from the rest.
    expect(resolve(svc.paths.lock, '..')).toBe(dir);
    for (const path of Object.values(svc.paths)) expect(isAbsolute(path), path).toBe(true);
    expect(new Set(Object.values(svc.paths)).size).toBe(5);
    expect(existsSync(root)).toBe(false);
  });

  it('makes a relative runtimeDir absolute against the cwd, still without creating it', () => {
    const relativeRoot = `lbs-relative-${process.pid}-${randomBytes(6).toString('hex')}`;
    const svc = localSingleton('rel', './services.js:Counter', { runtimeDir: relativeRoot });
    expect(svc.paths.dir).toBe(resolve(process.cwd(), relativeRoot, 'rel'));
    expect(existsSync(resolve(process.cwd(), relativeRoot))).toBe(false);
  });
});

describe('resolveOptions: identity and execArgv', () => {
  it('sorts and de-duplicates the env names, and keeps the value in canonical form', () => {
    expect(resolveOptions({ identity: { env: ['NODE_ENV', 'DATABASE_URL', 'NODE_ENV'] } }).identity).toEqual({
      env: ['DATABASE_URL', 'NODE_ENV'],
      value: undefined,
    });
    const a = resolveOptions({ identity: { value: { schema: 3, name: 'x' } } }).identity.value;
    const b = resolveOptions({ identity: { value: { name: 'x', schema: 3 } } }).identity.value;
    expect(a).toBeTypeOf('string');
    expect(a).toBe(b);
    expect(resolveOptions({ identity: { value: 'v3' } }).identity.value).not.toBe(resolveOptions({ identity: { value: 'v4' } }).identity.value);
    expect(resolveOptions({ identity: {} }).identity).toEqual({ env: [], value: undefined });
  });

  it('keeps execArgv as given, [] included, and frozen', () => {
    expect(resolveOptions({ execArgv: ['--conditions', 'production', '--no-warnings'] }).execArgv).toEqual(['--conditions', 'production', '--no-warnings']);
    const empty = resolveOptions({ execArgv: [] }).execArgv;
    expect(empty).toEqual([]);
    expect(Object.isFrozen(empty)).toBe(true);
  });

  it.each([
    [{ identity: 'NODE_ENV' }, "Expected `identity` to be an object like { env: ['NODE_ENV'], value: 'v3' }, got `\"NODE_ENV\"` (string)"],
    [{ identity: null }, 'Expected `identity` to be an object'],
    [{ identity: ['NODE_ENV'] }, 'Expected `identity` to be an object'],
    [{ identity: { envs: ['A'] } }, 'Unknown field `identity.envs`; expected { env, value }'],
    [{ identity: { env: 'NODE_ENV' } }, 'Expected `identity.env` to be an array of environment variable names, got `"NODE_ENV"` (string)'],
    [{ identity: { env: ['A', ''] } }, 'Expected `identity.env[1]` to be an environment variable name (non-empty, no \'=\'), got `""` (string)'],
    [{ identity: { env: ['A=B'] } }, 'Expected `identity.env[0]` to be an environment variable name'],
    [{ identity: { env: [42] } }, "Expected `identity.env[0]` to be an environment variable name (non-empty, no '='), got `42` (number)"],
    [{ identity: { value: () => 1 } }, '`identity.value` is a function'],
    [{ identity: { value: { at: new Map() } } }, '`identity.value.at` is a Map instance'],
    [{ execArgv: '--inspect' }, 'Expected `execArgv` to be an array of Node flags such as [\'--conditions=dev\'], got `"--inspect"` (string)'],
    [{ execArgv: ['--a', 1] }, 'Expected `execArgv[1]` to be a non-empty string, got `1` (number)'],
    [{ execArgv: ['--a', ''] }, 'Expected `execArgv[1]` to be a non-empty string'],
    [{ execArgv: ['--a', 'x\0y'] }, 'Expected `execArgv[1]` to be a non-empty string'],
    [{ execArgv: ['script.js'] }, 'Expected `execArgv` to start with a Node flag'],
  ])('rejects %o with a TypeError that says what it expects', (options, message) => {
    expect(() => resolveUnknown(options)).toThrow(TypeError);
    expect(() => resolveUnknown(options)).toThrow(literal(message));
  });

  it('rejects a bad identity synchronously at construction', () => {
    expect(() => localSingleton('x', './m.js:A', { identity: { env: [''] } })).toThrow(TypeError);
  });
});
