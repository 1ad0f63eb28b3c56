/**
 * The checks behind `resolveOptions()` (./options.ts): one per option that is more than a
 * type test, and how a bad value is shown in their messages ("Expected `idleTtlMs` to be a
 * finite number >= 0, got `-1` (number)").
 */
import { canonicalArgs } from './client/factory-ref.js';
import type { LocalSingletonOptions, ResolvedIdentity, RestartPolicy } from './options.js';

/** The longest delay setTimeout honours; a longer one would fire after 1 ms. */
const MAX_TIMER_MS = 0x7fffffff;

/** An environment variable name as every platform accepts it: no `=`, no NUL. */
const ENV_NAME = /^[^=\0]+$/;

/** `-1` (number), `'x'` (string): how a bad value is shown in messages. */
export function show(value: unknown): string {
  if (typeof value === 'string') return `\`${JSON.stringify(value)}\` (string)`;
  if (typeof value === 'bigint') return `\`${value}n\` (bigint)`;
  if (typeof value === 'function') return '(a function)';
  if (typeof value === 'symbol') return `\`${String(value)}\` (symbol)`;
  if (value === null) return '`null`';
  if (Array.isArray(value)) return '(an array)';
  if (typeof value === 'object') return '(an object)';
  return `\`${String(value)}\` (${typeof value})`;
}

/** True for an object that is neither null nor an array: what an options bag must be. */
export function isRecord(value: unknown): value is object {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Throws for the first field of the `name` option's object that is not one of `fields`. */
function checkFields(value: object, name: string, fields: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!fields.includes(key)) throw new TypeError(`Unknown field \`${name}.${key}\`; expected { ${fields.join(', ')} }`);
  }
}

/**
 * The number option `key`, or `fallback` when it is not given.
 * @throws {TypeError} unless it is finite (an integer when `integer`) and between `min` and `max`.
 */
export function numberOption(
  options: LocalSingletonOptions,
  key: keyof LocalSingletonOptions,
  fallback: number,
  min: number,
  integer = false,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const value = options[key];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    const kind = integer ? 'an integer' : 'a finite number';
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `between ${min} and ${max}`;
    throw new TypeError(`Expected \`${key}\` to be ${kind} ${range}, got ${show(value)}`);
  }
  return value;
}

/** The duration option `key` in ms, or `fallback`: at least `min`, and one a timer honours. */
export function durationOption(options: LocalSingletonOptions, key: keyof LocalSingletonOptions, fallback: number, min: number): number {
  return numberOption(options, key, fallback, min, false, MAX_TIMER_MS);
}

/** The `identity` option, checked: its env names sorted without duplicates, its value in canonical form. */
export function resolveIdentity(identity: LocalSingletonOptions['identity']): ResolvedIdentity {
  if (identity === undefined) return { env: [], value: undefined };
  if (!isRecord(identity)) {
    throw new TypeError(`Expected \`identity\` to be an object like { env: ['NODE_ENV'], value: 'v3' }, got ${show(identity)}`);
  }
  checkFields(identity, 'identity', ['env', 'value']);
  const env = identity.env ?? [];
  if (!Array.isArray(env)) throw new TypeError(`Expected \`identity.env\` to be an array of environment variable names, got ${show(env)}`);
  env.forEach((name: unknown, i) => {
    if (typeof name !== 'string' || !ENV_NAME.test(name)) {
      throw new TypeError(`Expected \`identity.env[${i}]\` to be an environment variable name (non-empty, no '='), got ${show(name)}`);
    }
  });
  // Checks that the value is plain data, naming the offending path.
  const value = identity.value === undefined ? undefined : canonicalArgs(identity.value, 'identity.value');
  return { env: [...new Set(env as string[])].sort(), value };
}

/** The `execArgv` option, checked and frozen: Node flags only, never a script in their place. */
export function resolveExecArgv(execArgv: LocalSingletonOptions['execArgv']): readonly string[] | undefined {
  if (execArgv === undefined) return undefined;
  if (!Array.isArray(execArgv)) throw new TypeError(`Expected \`execArgv\` to be an array of Node flags such as ['--conditions=dev'], got ${show(execArgv)}`);
  execArgv.forEach((arg: unknown, i) => {
    if (typeof arg !== 'string' || arg.length === 0 || arg.includes('\0')) {
      throw new TypeError(`Expected \`execArgv[${i}]\` to be a non-empty string, got ${show(arg)}`);
    }
  });
  if (execArgv.length > 0 && !execArgv[0].startsWith('-')) {
    throw new TypeError(`Expected \`execArgv\` to start with a Node flag (such as '--import'), got ${show(execArgv[0])}; the daemon's script is not yours to choose`);
  }
  return Object.freeze([...execArgv]);
}

/** The `restart` option, checked; `fallback` when it is not given. */
export function resolveRestart(restart: LocalSingletonOptions['restart'], fallback: RestartPolicy): RestartPolicy | false {
  if (restart === undefined) return fallback;
  if (restart === false) return false;
  if (!isRecord(restart)) {
    throw new TypeError(`Expected \`restart\` to be false or { maxRestarts, periodMs }, got ${show(restart)}`);
  }
  checkFields(restart, 'restart', ['maxRestarts', 'periodMs']);
  const { maxRestarts, periodMs } = restart;
  if (typeof maxRestarts !== 'number' || !Number.isInteger(maxRestarts) || maxRestarts < 0) {
    throw new TypeError(`Expected \`restart.maxRestarts\` to be an integer >= 0, got ${show(maxRestarts)}`);
  }
  if (typeof periodMs !== 'number' || !Number.isFinite(periodMs) || periodMs <= 0 || periodMs > MAX_TIMER_MS) {
    throw new TypeError(`Expected \`restart.periodMs\` to be a number of ms between 1 and ${MAX_TIMER_MS}, got ${show(periodMs)}`);
  }
  return { maxRestarts, periodMs };
}
