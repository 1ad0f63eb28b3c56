/**
 * What a value crosses the wire as (docs/PROTOCOL.md §2, "Values"). msgpackr, with
 * `moreTypes`, writes most JS types faithfully by itself (Date, Set, RegExp, typed arrays,
 * BigInt of any size); this module covers the rest before a call's arguments or a method's
 * result are encoded:
 *
 * - a `Map` becomes a {@link TaggedMap} and an `Error` a {@link TaggedError}, written as our
 *   extensions 0x4d and 0x45 (./extensions.ts; ./codec.ts registers them): msgpackr writes a `Map` as a plain
 *   MessagePack map, which a decoder of standard maps returns as an object, and writes an
 *   `Error` without its stack or code;
 * - anything that would not arrive as it was sent (a function, a symbol, an instance of a class
 *   with methods, a cycle) is refused with `ERR_UNENCODABLE` naming its path (`args[0].onChange is a function`)
 *   before anything is written: msgpackr would write a function as `undefined` and a class
 *   instance as a plain object without a word.
 *
 * The walk is the price of that on every call, so it only looks at objects: a primitive
 * (most arguments and results) costs one `typeof`, and a container is copied only when
 * something inside it is replaced.
 */
import { ProtocolError } from '../errors.js';
import { asText } from '../errors/wire.js';
import { TaggedError, TaggedMap } from './extensions.js';
import { pathOf, Refusal, within } from './path.js';

/** Deeper than this, a value is refused (msgpackr's own recursion gives out not far beyond). */
export const MAX_DEPTH = 1000;

/**
 * Returns `value` ready for the encoder: the same value when nothing in it needs a change,
 * otherwise a copy with each `Map` and `Error` replaced by its tagged form. Never mutates
 * `value`.
 * @param root how the message names the value: `args` (a call's arguments) or `result`.
 * @throws {ProtocolError} `ERR_UNENCODABLE` for a function, a symbol, an instance of a class
 *   with methods or accessors (and no `toJSON`), a cycle, or a value nested deeper than {@link MAX_DEPTH}, e.g.
 *   "args[0].onChange is a function".
 */
export function prepareValue(value: unknown, root: string): unknown {
  if (typeof value !== 'object' && typeof value !== 'function' && typeof value !== 'symbol') return value;
  if (value === null || (Array.isArray(value) && isFlat(value))) return value;
  try {
    return prepare(value, []);
  } catch (error) {
    const refusal = error instanceof Refusal ? error : within(error, { raw: '' });
    const steps = refusal.steps.reverse();
    const what = refusal.cycleDepth === undefined ? refusal.what : `is ${pathOf(root, steps.slice(0, refusal.cycleDepth))} again (a cycle: a value that contains itself)`;
    throw new ProtocolError(`${pathOf(root, steps)} ${what}`, { code: 'ERR_UNENCODABLE' });
  }
}

/** True when no item of `array` is an object, a function or a symbol: nothing to walk. */
function isFlat(array: readonly unknown[]): boolean {
  for (let i = 0; i < array.length; i++) {
    const item = array[i];
    if ((typeof item === 'object' && item !== null) || typeof item === 'function' || typeof item === 'symbol') return false;
  }
  return true;
}

function prepare(value: unknown, ancestors: object[]): unknown {
  switch (typeof value) {
    case 'object':
      if (value === null) return value;
      break;
    case 'function':
      throw new Refusal('is a function (functions and callbacks cannot cross the wire)');
    case 'symbol':
      throw new Refusal('is a symbol');
    default:
      return value;
  }
  if (Array.isArray(value)) return prepareArray(value, ancestors);
  const prototype = Object.getPrototypeOf(value) as object | null;
  if (prototype === Object.prototype || prototype === null) return prepareObject(value as Record<string, unknown>, ancestors);
  if (value instanceof Date || value instanceof RegExp || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return value;
  if (value instanceof Map) return prepareMap(value, ancestors);
  if (value instanceof Set) return prepareSet(value, ancestors);
  if (value instanceof Error) return prepareError(value, ancestors);
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') {
    enter(value, ancestors);
    let json: unknown;
    try {
      json = prepare(toJSON.call(value), ancestors);
    } catch (error) {
      throw within(error, { raw: '' }); // one step per ancestor: the cycle's path counts on it
    }
    ancestors.pop();
    return json;
  }
  // An instance of a class without methods (nor getters) loses only its prototype: it crosses
  // as a plain object, as its type says (Remote<T> refuses the same ones, ../client/crossing.ts).
  if (!hasMethods(prototype)) return prepareObject(value as Record<string, unknown>, ancestors);
  throw new Refusal(`is ${describeInstance(prototype)}, whose methods cannot cross (send a plain object, or give the class a toJSON())`);
}

/** Per prototype: whether it or a prototype above it (up to Object's) has a method or accessor. */
const methodsOf = new WeakMap<object, boolean>();

function hasMethods(prototype: object): boolean {
  let known = methodsOf.get(prototype);
  if (known === undefined) {
    known = false;
    // An object of another realm (node:vm) ends at that realm's Object.prototype, not ours.
    for (let p: object | null = prototype; p !== null && p !== Object.prototype && !isForeignPlainPrototype(p); p = Object.getPrototypeOf(p) as object | null) {
      if (Reflect.ownKeys(p).some((key) => key !== 'constructor')) {
        known = true;
        break;
      }
    }
    methodsOf.set(prototype, known);
  }
  return known;
}

function isForeignPlainPrototype(prototype: object): boolean {
  return Object.getPrototypeOf(prototype) === null && (prototype as { constructor?: { name?: unknown } }).constructor?.name === 'Object';
}

function describeInstance(prototype: object): string {
  const name = (prototype as { constructor?: { name?: unknown } }).constructor?.name;
  return typeof name === 'string' && name !== '' ? `an instance of ${name}` : 'an instance of an anonymous class';
}

/** Refuses a cycle; otherwise records `value` as an ancestor of what is walked next. */
function enter(value: object, ancestors: object[]): void {
  const depth = ancestors.indexOf(value);
  if (depth !== -1) throw new Refusal('', depth);
  if (ancestors.length >= MAX_DEPTH) throw new Refusal(`is nested deeper than ${MAX_DEPTH} levels`);
  ancestors.push(value);
}

function prepareArray(array: readonly unknown[], ancestors: object[]): readonly unknown[] {
  enter(array, ancestors);
  let copy: unknown[] | undefined;
  for (let i = 0; i < array.length; i++) {
    const item = array[i];
    if (typeof item !== 'object' && typeof item !== 'function' && typeof item !== 'symbol') continue;
    let prepared: unknown;
    try {
      prepared = prepare(item, ancestors);
    } catch (error) {
      throw within(error, i);
    }
    if (prepared !== item) {
      copy ??= array.slice();
      copy[i] = prepared;
    }
  }
  ancestors.pop();
  return copy ?? array;
}

function prepareObject(object: Record<string, unknown>, ancestors: object[]): Record<string, unknown> {
  enter(object, ancestors);
  let copy: Record<string, unknown> | undefined;
  for (const key in object) {
    let item: unknown;
    try {
      item = object[key];
    } catch (error) {
      throw within(error, key);
    }
    if (typeof item !== 'object' && typeof item !== 'function' && typeof item !== 'symbol') continue;
    // msgpackr writes own properties only (for...in also lists enumerable inherited ones).
    if (!Object.hasOwn(object, key)) continue;
    let prepared: unknown;
    try {
      prepared = prepare(item, ancestors);
    } catch (error) {
      throw within(error, key);
    }
    if (prepared !== item) {
      // Spread defines properties (a key "__proto__" stays a key), unlike assignment.
      copy ??= { ...object };
      copy[key] = prepared;
    }
  }
  ancestors.pop();
  return copy ?? object;
}

function prepareMap(map: ReadonlyMap<unknown, unknown>, ancestors: object[]): TaggedMap {
  enter(map, ancestors);
  const entries: unknown[][] = [];
  let i = 0;
  for (const [key, item] of map) {
    let preparedKey: unknown;
    try {
      preparedKey = prepare(key, ancestors);
    } catch (error) {
      throw within(error, { raw: `.<key #${i}>` });
    }
    let prepared: unknown;
    try {
      prepared = prepare(item, ancestors);
    } catch (error) {
      throw within(error, { raw: isLiteralKey(key) ? `.get(${literal(key)})` : `.<value #${i}>` });
    }
    entries.push([preparedKey, prepared]);
    i++;
  }
  ancestors.pop();
  return new TaggedMap(entries);
}

function isLiteralKey(key: unknown): key is string | number | boolean | bigint | null | undefined {
  return key === null || (typeof key !== 'object' && typeof key !== 'function' && typeof key !== 'symbol');
}

function literal(key: string | number | boolean | bigint | null | undefined): string {
  if (typeof key === 'string') return JSON.stringify(key);
  return typeof key === 'bigint' ? `${key}n` : String(key);
}

function prepareSet(set: ReadonlySet<unknown>, ancestors: object[]): ReadonlySet<unknown> {
  enter(set, ancestors);
  let changed = false;
  const items: unknown[] = [];
  let i = 0;
  for (const item of set) {
    let prepared: unknown;
    try {
      prepared = prepare(item, ancestors);
    } catch (error) {
      throw within(error, { raw: `.<item #${i}>` });
    }
    if (prepared !== item) changed = true;
    items.push(prepared);
    i++;
  }
  ancestors.pop();
  return changed ? new Set(items) : set;
}

/** The fields an Error's extension carries besides its own enumerable properties. */
const ERROR_FIELDS = new Set(['name', 'message', 'stack', 'cause']);

function prepareError(error: Error, ancestors: object[]): TaggedError {
  enter(error, ancestors);
  // No prototype: a property named "__proto__" is then just a key.
  const fields = Object.create(null) as Record<string, unknown>;
  fields.name = asText(read(error, 'name'), 'Error');
  fields.message = asText(read(error, 'message'), '');
  const stack = read(error, 'stack');
  if (typeof stack === 'string') fields.stack = stack;
  // `code` is often an own enumerable property, but Node's own errors may define it elsewhere.
  const code = read(error, 'code');
  if (typeof code === 'string' || typeof code === 'number') fields.code = code;
  const aggregate = error instanceof AggregateError;
  for (const key in error) {
    if (ERROR_FIELDS.has(key) || (aggregate && key === 'errors') || !Object.hasOwn(error, key)) continue;
    fields[key] = prepareField(error, key, ancestors);
  }
  if (Object.hasOwn(error, 'cause')) fields.cause = prepareField(error, 'cause', ancestors);
  if (aggregate) fields.errors = prepareField(error, 'errors', ancestors);
  ancestors.pop();
  return new TaggedError(fields);
}

function prepareField(error: Error, key: string, ancestors: object[]): unknown {
  try {
    return prepare((error as unknown as Record<string, unknown>)[key], ancestors);
  } catch (thrown) {
    throw within(thrown, key);
  }
}

function read(error: Error, key: string): unknown {
  try {
    return (error as unknown as Record<string, unknown>)[key];
  } catch (thrown) {
    throw within(thrown, key);
  }
}
