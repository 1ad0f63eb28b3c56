/**
 * Property: decodeValue accepts exactly what msgpackr accepts, minus the extension types
 * docs/PROTOCOL.md §2 does not list, wherever they sit. Payloads are built from a syntax
 * tree, so the test knows independently of src/wire/screen.ts whether a payload carries a
 * refused extension: nested in arrays, map keys and values, after strings and bins whose
 * bytes look like extension headers, and inside the value that follows an accepted
 * extension (Error, Set, RegExp). If the screen's walk ever read the bytes differently from
 * msgpackr, a refused extension could hide from it; this is what would show it.
 *
 * Knobs: FC_RUNS, FC_SEED, FC_PATH (see test/property/support.ts).
 */
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { decodeValue, encodeValue } from '../../src/wire/codec.js';
import { msgpackValue, params, timeout } from './support.js';

/** PROTOCOL.md §2's list, and how many values follow each one's data. */
const ACCEPTED = new Map([
  [0x00, 0],
  [0xff, 0],
  [0x42, 0],
  [0x74, 0],
  [0x65, 1],
  [0x73, 1],
  [0x78, 1],
]);

/** msgpackr alone, configured as the codec is. */
const bare = new Packr({ useRecords: false, mapsAsObjects: true });

interface Node {
  readonly bytes: Buffer;
  /** Whether a refused extension type occurs anywhere in it. */
  readonly refused: boolean;
}

function extHeader(type: number, length: number): Buffer {
  const fixed: Record<number, number> = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 };
  if (fixed[length] !== undefined) return Buffer.from([fixed[length]!, type]);
  if (length <= 0xff) return Buffer.from([0xc7, length, type]);
  return Buffer.from([0xc8, length >> 8, length & 0xff, type]);
}

function lengthHeader(small: number, base16: number, count: number, limit: number): Buffer {
  if (count < limit) return Buffer.from([small | count]);
  return Buffer.from([base16, count >> 8, count & 0xff]);
}

/** Bytes that look like extension headers of refused types, to put inside strings and bins. */
const decoyBytes = fc
  .array(fc.oneof(fc.constantFrom(0xd4, 0xd5, 0xd6, 0xc7, 0x69, 0x70, 0x72, 0x62, 0xc1), fc.nat(255)), { maxLength: 12 })
  .map((bytes) => Buffer.from(bytes));

const extType = fc.oneof(fc.constantFrom(...ACCEPTED.keys(), 0x69, 0x70, 0x72, 0x62), fc.nat(255));

const tree = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    // Leaves: anything the codec writes, and strings/bins full of decoys.
    msgpackValue.map((value) => ({ bytes: encodeValue(value), refused: false })),
    decoyBytes.map((bytes) => ({ bytes: Buffer.concat([Buffer.from([0xc4, bytes.length]), bytes]), refused: false })),
    decoyBytes.map((bytes) => ({ bytes: Buffer.concat([Buffer.from([0xd9, bytes.length]), bytes]), refused: false })),
    fc.constant({ bytes: Buffer.from([0xc1]), refused: false }),
    fc.array(tie('node'), { maxLength: 5 }).map((items) => ({
      bytes: Buffer.concat([lengthHeader(0x90, 0xdc, items.length, 16), ...items.map((n) => n.bytes)]),
      refused: items.some((n) => n.refused),
    })),
    fc
      .array(
        fc.tuple(fc.oneof({ arbitrary: fc.string({ maxLength: 6 }).map((key) => ({ bytes: encodeValue(key), refused: false })), weight: 4 }, tie('node')), tie('node')),
        { maxLength: 4 },
      )
      .map((entries) => ({
        bytes: Buffer.concat([lengthHeader(0x80, 0xde, entries.length, 16), ...entries.flatMap(([k, v]) => [k.bytes, v.bytes])]),
        refused: entries.some(([k, v]) => k.refused || v.refused),
      })),
    // An extension: its data, then (for Error, Set and RegExp, or at random) a value after it.
    fc.tuple(extType, fc.uint8Array({ maxLength: 20 }), fc.option(tie('node'), { freq: 2 })).map(([type, data, after]) => {
      const follows = (ACCEPTED.get(type) ?? 0) > 0 || after !== null;
      const next = after ?? { bytes: encodeValue(['x', 'y']), refused: false };
      return {
        bytes: Buffer.concat([extHeader(type, data.length), data, ...(follows ? [next.bytes] : [])]),
        refused: !ACCEPTED.has(type) || (follows && next.refused),
      };
    }),
  ),
})).node;

/** A comparable form of a decoded value (Errors, Sets and RegExps included). */
function comparable(value: unknown): string {
  try {
    return encodeValue(value).toString('hex');
  } catch (error) {
    return `unencodable: ${(error as Error).message}`;
  }
}

describe('property: the decoder refuses exactly the extension types PROTOCOL.md does not list', () => {
  it(
    'decodeValue refuses a payload with a refused extension, else agrees with msgpackr',
    () => {
      fc.assert(
        fc.property(tree, ({ bytes, refused }) => {
          let decoded: unknown;
          let error: unknown;
          try {
            decoded = decodeValue(bytes);
          } catch (caught) {
            error = caught;
          }
          if (error !== undefined) {
            expect(error).toBeInstanceOf(ProtocolError);
            expect((error as ProtocolError).code).toBe('ERR_PROTOCOL');
          }
          if (refused) {
            expect(error, 'a refused extension must be refused').toBeDefined();
            return;
          }
          let expected: unknown;
          let bareError: unknown;
          try {
            expected = bare.unpack(bytes);
          } catch (caught) {
            bareError = caught;
          }
          if (bytes[0] === 0xc1) {
            expect(error, 'a whole payload of 0xc1').toBeDefined();
          } else if (bareError !== undefined) {
            expect(error, `msgpackr refused it (${String(bareError)})`).toBeDefined();
          } else {
            expect(error, 'msgpackr accepted it, so must decodeValue').toBeUndefined();
            expect(comparable(decoded)).toBe(comparable(expected));
          }
        }),
        params(2000),
      );
    },
    timeout(30_000),
  );
});
