/**
 * Where, in a message a peer sent, the map key our decoder refused is. Our own encoder never
 * writes one (a `Map` travels as extension 0x4d, ./values.ts, and keeps keys of any kind), but
 * a client in another language may send a MessagePack map keyed by an array or a map: our
 * decoder (`mapsAsObjects: true`, ./codec.ts) turns every map into a plain object and refuses
 * such a key. The receiver then answers that one message with `ERR_UNENCODABLE` naming the
 * key's path (see {@link decodeAnyKeys} in ./codec.ts). Runs only after a failed decode.
 */
import { decodeAnyKeys } from './codec.js';
import { isId } from './parse.js';
import { childPath } from './path.js';

/** Deeper than this, the walk stops and says so. */
const MAX_DEPTH = 2000;

/** A map key our decoder accepts (it becomes a string property name). */
function isScalarKey(key: unknown): boolean {
  return key === null || (typeof key !== 'object' && typeof key !== 'function' && typeof key !== 'symbol');
}

function kind(value: object): string {
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Map) return 'a map';
  if (value instanceof Date) return 'a timestamp';
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return 'bytes';
  return 'an extension value';
}

/**
 * Describes the first map key in `value` (decoded with every map as a JS `Map`) that is not a
 * scalar, with its path from `root` (for example `a map key that is an array at
 * args[0].<key #1>`: `<key #i>` is the entry's place in its map), or returns undefined.
 */
export function describeRefusedKey(value: unknown, root: string): string | undefined {
  return walk(value, root, 0);
}

function walk(value: unknown, path: string, depth: number): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (depth >= MAX_DEPTH) return `a value nested deeper than ${MAX_DEPTH} levels at ${path}`;
  if (Array.isArray(value) || value instanceof Set) {
    let i = 0;
    for (const item of value) {
      const found = walk(item, `${path}[${i++}]`, depth + 1);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (value instanceof Map) {
    let i = 0;
    for (const [key, item] of value) {
      if (!isScalarKey(key)) return `a map key that is ${kind(key as object)} at ${path}.<key #${i}> (map keys must be strings, numbers, booleans, nil or undefined)`;
      const found = walk(item, childPath(path, String(key)), depth + 1);
      if (found !== undefined) return found;
      i++;
    }
    return undefined;
  }
  return undefined;
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
  const where = describeRefusedKey(part, t === 'call' ? 'args' : 'result') ?? 'a map key that is not a string, number, boolean, nil or undefined';
  return { id: value.get('id') as number, method: value.get('m'), where };
}
