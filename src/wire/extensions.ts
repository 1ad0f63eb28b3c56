/**
 * Our two MessagePack extension types (docs/PROTOCOL.md §2, "Values"), for what msgpackr
 * writes lossily: a `Map` (0x4d) and an `Error` (0x45). Their tags, the classes a value is
 * wrapped in on its way to the encoder (./values.ts wraps, ./codec.ts registers them with
 * msgpackr), and their readers.
 */

/** Extension type of a `Map`: a fixext 1 tag, then an array of `[key, value]` pairs. */
export const MAP_EXTENSION = 0x4d; // 'M'
/** Extension type of an `Error`: a fixext 1 tag, then a map of its fields. */
export const ERROR_EXTENSION = 0x45; // 'E'

/** A `Map` on its way to the encoder: its entries, prepared. */
export class TaggedMap {
  constructor(readonly entries: unknown[][]) {}
}

/** An `Error` on its way to the encoder: the map its extension carries, prepared. */
export class TaggedError {
  constructor(readonly fields: Record<string, unknown>) {}
}

/**
 * The `Map` extension's reader: an array of `[key, value]` pairs. Anything else is malformed.
 * @throws {Error} on a malformed payload (the decoder reports it as `ERR_PROTOCOL`).
 */
export function readMap(entries: unknown): Map<unknown, unknown> {
  if (!Array.isArray(entries)) throw new Error('a Map (extension 0x4d) must be followed by an array of [key, value] pairs');
  const map = new Map<unknown, unknown>();
  for (const entry of entries) {
    if (!Array.isArray(entry) || entry.length !== 2) throw new Error('a Map (extension 0x4d) entry must be a [key, value] array');
    map.set(entry[0], entry[1]);
  }
  return map;
}

/** The built-in classes an Error is rebuilt as, by name; any other name is an `Error`. */
const ERROR_CLASSES: Readonly<Record<string, ErrorConstructor>> = {
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

/**
 * The `Error` extension's reader: a map with string `name` and `message`, optional `stack`,
 * `cause` and (for an AggregateError) `errors`; its other keys become own enumerable
 * properties (`code`, `errno`...).
 * @throws {Error} on a malformed payload (the decoder reports it as `ERR_PROTOCOL`).
 */
export function readError(data: unknown): Error {
  // A decoder that reads every map as a JS Map (decodeAnyKeys) hands one here too.
  const fields = data instanceof Map ? Object.fromEntries(data) : data;
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) throw new Error('an Error (extension 0x45) must be followed by a map');
  const { name, message, stack } = fields as Record<string, unknown>;
  if (typeof name !== 'string' || typeof message !== 'string') throw new Error('an Error (extension 0x45) needs a string name and message');
  let error: Error;
  if (name === 'AggregateError') {
    const errors = (fields as Record<string, unknown>).errors;
    error = new AggregateError(Array.isArray(errors) ? errors : [], message);
  } else {
    const Class = Object.hasOwn(ERROR_CLASSES, name) ? ERROR_CLASSES[name]! : Error;
    error = new Class(message);
    if (Class === Error && name !== 'Error') define(error, 'name', name, false);
  }
  // The receiver's own stack would point at this decoder: keep the sender's, or none.
  if (typeof stack === 'string') define(error, 'stack', stack, false);
  else delete (error as { stack?: unknown }).stack;
  for (const key of Object.keys(fields)) {
    if (key === 'name' || key === 'message' || key === 'stack' || (key === 'errors' && name === 'AggregateError')) continue;
    // `cause` is not enumerable, as `new Error(message, { cause })` makes it.
    define(error, key, (fields as Record<string, unknown>)[key], key !== 'cause');
  }
  return error;
}

function define(target: object, key: string, value: unknown, enumerable: boolean): void {
  Object.defineProperty(target, key, { value, enumerable, writable: true, configurable: true });
}
