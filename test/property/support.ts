/**
 * Shared settings and arbitraries for the property tests (test/property/*.test.ts).
 *
 * Knobs (environment variables):
 *   FC_RUNS=N   multiply every property's default number of runs by N (a positive number,
 *               e.g. FC_RUNS=10 for a longer local run; FC_RUNS=0.5 for a quicker one). Test
 *               timeouts grow with it. Unset: the defaults, sized for CI (all property files
 *               together in well under 15 s on 2 cores).
 *   FC_SEED=S   run every property with seed S instead of a random one. fast-check prints the
 *               seed (and path) of a failing run; FC_SEED=S reproduces it.
 *   FC_PATH=P   with FC_SEED, replay only the counterexample at path P (as printed by
 *               fast-check). The path is specific to one property, so combine it with
 *               `vitest -t '<test name>'`.
 */
import fc from 'fast-check';

function positiveNumber(name: string, text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${JSON.stringify(text)}`);
  return value;
}

/** The FC_RUNS multiplier (1 when unset). */
export const RUNS_FACTOR = positiveNumber('FC_RUNS', process.env.FC_RUNS) ?? 1;

const SEED = process.env.FC_SEED === undefined || process.env.FC_SEED.trim() === '' ? undefined : Number(process.env.FC_SEED);
if (SEED !== undefined && !Number.isInteger(SEED)) throw new Error(`FC_SEED must be an integer, got ${JSON.stringify(process.env.FC_SEED)}`);
const PATH = process.env.FC_PATH?.trim() || undefined;

/** `defaultRuns` scaled by FC_RUNS (at least 1). */
export function runs(defaultRuns: number): number {
  return Math.max(1, Math.round(defaultRuns * RUNS_FACTOR));
}

/** fast-check parameters for a property whose CI budget is `defaultRuns` runs. */
export function params<T>(defaultRuns: number, extra: fc.Parameters<T> = {}): fc.Parameters<T> {
  return {
    numRuns: runs(defaultRuns),
    ...(SEED !== undefined ? { seed: SEED } : {}),
    ...(SEED !== undefined && PATH !== undefined ? { path: PATH } : {}),
    ...extra,
  };
}

/** A vitest timeout for a test whose CI run takes well under `ms`, scaled by FC_RUNS. */
export function timeout(ms: number): number {
  return Math.round(ms * Math.max(1, RUNS_FACTOR));
}

/** The dangerous member names every admission property includes. */
export const DANGEROUS_NAMES: readonly string[] = [
  '',
  '__proto__',
  'constructor',
  'toString',
  'toLocaleString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
  'then',
  '_x',
  '_',
  '__',
  '#private',
  'prototype',
  'call',
  'apply',
  'bind',
  'length',
  'name',
  ' then',
  'then ',
  'Then',
  'CONSTRUCTOR',
  '\u0000',
  '_secret',
  'inc',
];

/**
 * Values that survive encodeValue -> decodeValue unchanged (compared with toStrictEqual):
 * what the codec's value mapping (docs/PROTOCOL.md §2) round-trips. Left out on purpose,
 * because the mapping changes them by design: -0 (becomes 0), BigInt (64-bit ints), a map
 * key `__proto__` (renamed `__proto_`), null-prototype objects, array holes, Map/Set/typed
 * arrays other than Buffer (bytes decode as Buffer), sub-millisecond dates.
 */
export const msgpackValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(null, undefined, true, false),
    fc.integer(),
    fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }),
    fc.double().map((n) => (Object.is(n, -0) ? 0 : n)),
    fc.maxSafeInteger(),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.string({ maxLength: 300 }),
    fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
    fc.date({ noInvalidDate: true }),
    fc.array(tie('value'), { maxLength: 6 }),
    fc.dictionary(
      fc.oneof(fc.string({ maxLength: 8 }), fc.string({ unit: 'binary', maxLength: 8 }), fc.constantFrom(...DANGEROUS_NAMES)).filter((key) => key !== '__proto__'),
      tie('value'),
      { maxKeys: 6, noNullPrototype: true },
    ),
  ),
})).value;

/**
 * Deep equality for the msgpack value domain above, as a boolean (a failing vitest matcher
 * would pretty-print huge buffers on every shrink step). Stricter than toEqual: same
 * prototypes, same own keys, `undefined`-valued keys count, numbers compared with Object.is,
 * bytes byte for byte (a Uint8Array equals a Buffer of the same bytes).
 */
export function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
  }
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && Object.is(a.getTime(), b.getTime());
  if (Array.isArray(a) !== Array.isArray(b) || Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  const keysA = Reflect.ownKeys(a);
  const keysB = Reflect.ownKeys(b);
  if (keysA.length !== keysB.length) return false;
  for (const key of keysA) {
    if (!Object.hasOwn(b, key)) return false;
    if (!sameValue((a as Record<PropertyKey, unknown>)[key], (b as Record<PropertyKey, unknown>)[key])) return false;
  }
  return true;
}
