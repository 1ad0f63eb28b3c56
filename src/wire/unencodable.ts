/**
 * Where in a value the part that cannot cross the wire is, for the message of
 * `ERR_UNENCODABLE`. Only ever run after encoding (or decoding) failed: the hot path never
 * walks a value twice.
 *
 * What cannot cross: a symbol, a cycle, a BigInt outside the 64-bit range (msgpackr refuses
 * to encode them), and a `Map` key that is not a scalar (an object, an array, a Date, bytes):
 * msgpackr encodes that `Map`, but our decoder (`mapsAsObjects: true`, ./codec.ts) turns
 * every map into a plain object and refuses such a key, so the receiver reports it
 * (see {@link decodeAnyKeys} in ./codec.ts).
 */
import { ProtocolError } from '../errors.js';
import { decodeAnyKeys } from './codec.js';
import { isId } from './messages.js';

/** Deeper than this, the walk stops and says so (msgpackr's own recursion gives up near it). */
const MAX_DEPTH = 2000;

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** `path` followed by property `key`, as JavaScript would write it. */
function child(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** A map key our decoder accepts (it becomes a string property name). */
function isScalarKey(key: unknown): key is string | number | boolean | bigint | null | undefined {
  return key === null || (typeof key !== 'object' && typeof key !== 'function' && typeof key !== 'symbol');
}

function kind(value: object): string {
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Map) return 'a Map';
  if (value instanceof Date) return 'a Date';
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return 'bytes';
  const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== 'Object' && name !== '' ? `a ${name}` : 'an object';
}

const BIGINT_MIN = -(2n ** 63n);
const BIGINT_LIMIT = 2n ** 64n;

/**
 * Describes the first part of `value` that cannot cross the wire, with its path from `root`
 * (for example `a Map key that is an object at args[0].<key #0>`), or returns undefined when
 * the walk finds none. Map entries are walked as the receiver sees them: a scalar key `k` as
 * the property `k`, any other key as `<key #i>` (its place among the entries). Never throws.
 */
export function describeUnencodable(value: unknown, root: string): string | undefined {
  try {
    return walk(value, root, new Set(), 0);
  } catch {
    return undefined; // a getter or toJSON that throws: the encoder's own message stands
  }
}

function walk(value: unknown, path: string, ancestors: Set<object>, depth: number): string | undefined {
  switch (typeof value) {
    case 'symbol':
      return `a symbol at ${path}`;
    case 'bigint':
      return value < BIGINT_MIN || value >= BIGINT_LIMIT ? `a BigInt outside the 64-bit range at ${path}` : undefined;
    case 'object':
      break;
    default:
      return undefined; // functions are written as undefined, documented (docs/PROTOCOL.md §2)
  }
  if (value === null || value instanceof Date || value instanceof RegExp || value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return undefined;
  if (ancestors.has(value)) return `a cycle (a value that contains itself) at ${path}`;
  if (depth >= MAX_DEPTH) return `a value nested deeper than ${MAX_DEPTH} levels at ${path}`;
  ancestors.add(value);
  try {
    if (Array.isArray(value) || value instanceof Set) {
      let i = 0;
      for (const item of value) {
        const found = walk(item, `${path}[${i++}]`, ancestors, depth + 1);
        if (found !== undefined) return found;
      }
      return undefined;
    }
    if (value instanceof Map) {
      let i = 0;
      for (const [key, item] of value) {
        if (!isScalarKey(key)) {
          const what = typeof key === 'symbol' ? 'a symbol' : kind(key as object);
          return `a Map key that is ${what} at ${path}.<key #${i}> (map keys must be strings, numbers, booleans, null or undefined)`;
        }
        const found = walk(item, child(path, String(key)), ancestors, depth + 1);
        if (found !== undefined) return found;
        i++;
      }
      return undefined;
    }
    if (value instanceof Error) {
      const { cause, errors } = value as Error & { errors?: unknown };
      return walk(cause, `${path}.cause`, ancestors, depth + 1) ?? walk(errors, `${path}.errors`, ancestors, depth + 1);
    }
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') return walk(toJSON.call(value), path, ancestors, depth + 1);
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      const found = walk((value as Record<string, unknown>)[key], child(path, key), ancestors, depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  } finally {
    ancestors.delete(value);
  }
}

/**
 * `error` with the path of the part of `value` that could not be encoded, when it is an
 * `ERR_UNENCODABLE` from the encoder; any other error is returned as it is.
 * @param what says what could not be sent, e.g. `Cannot send the arguments of "inc"`.
 */
export function withUnencodablePath(error: unknown, value: unknown, root: string, what: string): unknown {
  if (!(error instanceof ProtocolError) || error.code !== 'ERR_UNENCODABLE') return error;
  const where = describeUnencodable(value, root) ?? (error.cause instanceof Error ? error.cause.message : error.message);
  return new ProtocolError(`${what}: ${where}`, { code: 'ERR_UNENCODABLE', cause: error.cause ?? error });
}

/** A message refused for a map key only: its id, its method (for a call), where the key is. */
export interface RefusedKey {
  readonly id: number;
  readonly method: unknown;
  readonly where: string;
}

/**
 * For a payload the decoder refused: when it is a `t` message (a `call` or a `reply`) whose
 * one fault is a map key that is not a scalar, its id and where the key is in its arguments
 * (`args...`) or result (`result...`); undefined for anything else, which stays a protocol
 * error. Runs only after a failed decode. `screened`: as for `decodeAnyKeys`.
 */
export function locateRefusedKey(payload: Uint8Array, screened: boolean, t: 'call' | 'reply'): RefusedKey | undefined {
  let value: unknown;
  try {
    value = decodeAnyKeys(payload, screened);
  } catch {
    return undefined;
  }
  if (!(value instanceof Map) || value.get('t') !== t || !isId(value.get('id'))) return undefined;
  const part = t === 'call' ? value.get('a') : value.get('r');
  if (t === 'call' && (!Array.isArray(part) || typeof value.get('m') !== 'string')) return undefined;
  const where = describeUnencodable(part, t === 'call' ? 'args' : 'result') ?? 'a map key that is not a string, number, boolean, null or undefined';
  return { id: value.get('id') as number, method: value.get('m'), where };
}
