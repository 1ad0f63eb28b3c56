// msgpackr's pure-JS entry, as the codec loads it (./long-strings-native.test.ts: with the add-on).
import { addExtension, Packr } from 'msgpackr/pack';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { decodeAuthenticated, decodeValue, DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameDecoder, HEADER_BYTES } from '../../src/wire/codec.js';
import { decodeLifting, LIFTED_STRING_EXTENSION, LONG_STRING_BYTES, takeLifted } from '../../src/wire/long-strings.js';
import { screenPayload } from '../../src/wire/screen.js';

// Both decoders of the codec, and msgpackr's own reading of the same bytes (the reference:
// lifting must not change a single decoded value).
const reference = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: true });
const DECODERS = [
  ['decodeValue', decodeValue],
  ['decodeAuthenticated', decodeAuthenticated],
] as const;

function payloadOf(message: unknown): Buffer {
  return encodeFrame(message, 64 * 1024 * 1024).subarray(HEADER_BYTES);
}

/** Decodes `payload` with `decode`, and checks it decoded as msgpackr does and was put back. */
function decodeChecked(decode: (payload: Uint8Array) => unknown, payload: Buffer): unknown {
  const before = Buffer.from(payload);
  const value = decode(payload);
  expect(payload.equals(before)).toBe(true);
  expect(value).toEqual(reference.unpack(before));
  return value;
}

const ascii = (bytes: number, fill = 'x') => fill.repeat(bytes);

describe('long strings', () => {
  it('the threshold is where Node makes a Latin-1 string external (EXTERN_APEX)', () => {
    expect(LONG_STRING_BYTES).toBe(1_031_913);
  });

  for (const [name, decode] of DECODERS) {
    describe(name, () => {
      it('decodes ASCII strings at the threshold, one byte under and one over, as msgpackr does', () => {
        for (const bytes of [LONG_STRING_BYTES - 1, LONG_STRING_BYTES, LONG_STRING_BYTES + 1]) {
          const text = `${ascii(bytes - 1, 'a')}~`;
          const value = decodeChecked(decode, payloadOf({ t: 'reply', id: 1, r: text })) as { r: string };
          expect(value.r).toBe(text);
        }
      });

      it('leaves a non-ASCII long string to msgpackr, wherever its first non-ASCII byte is', () => {
        const base = ascii(LONG_STRING_BYTES + 10);
        for (const at of [0, 1, 5, LONG_STRING_BYTES >> 1, LONG_STRING_BYTES + 8]) {
          const text = `${base.slice(0, at)}é${base.slice(at + 1)}`;
          expect((decodeChecked(decode, payloadOf({ t: 'reply', id: 2, r: text })) as { r: string }).r).toBe(text);
        }
        // A byte-order mark first: msgpackr's TextDecoder drops it, and so does the codec.
        decodeChecked(decode, payloadOf({ t: 'reply', id: 3, r: `\ufeff${base}` }));
        const emoji = '😀'.repeat((LONG_STRING_BYTES >> 2) + 1);
        expect((decodeChecked(decode, payloadOf({ t: 'reply', id: 4, r: emoji })) as { r: string }).r).toBe(emoji);
      });

      it('puts several long strings back in their places, among short ones, keys and other values', () => {
        const a = ascii(LONG_STRING_BYTES, 'a');
        const b = ascii(LONG_STRING_BYTES + 3, 'b');
        const c = `${ascii(LONG_STRING_BYTES)}ü`;
        const message = {
          t: 'call',
          id: 7,
          m: 'echo',
          a: [a, { [b]: 'a long key', inner: [c, a, 'short', new Set([b]), new Map([[1, b]])] }, Buffer.from('bytes'), 3.5, null],
        };
        const value = decodeChecked(decode, payloadOf(message)) as typeof message;
        expect(value.a[0]).toBe(a);
        expect(Object.keys(value.a[1] as object)[0]).toBe(b);
      });

      it('decodes a payload that is a long string alone', () => {
        const text = ascii(LONG_STRING_BYTES + 1);
        const payload = encodeFrame(text, DEFAULT_MAX_FRAME_BYTES).subarray(HEADER_BYTES);
        expect(decodeChecked(decode, payload)).toBe(text);
      });

      it('decodes from a plain Uint8Array as well as a Buffer', () => {
        const text = ascii(LONG_STRING_BYTES);
        const payload = payloadOf({ t: 'reply', id: 8, r: text });
        const plain = new Uint8Array(payload);
        expect((decode(plain) as { r: string }).r).toBe(text);
        expect(Buffer.from(plain).equals(payload)).toBe(true);
      });
    });
  }

  it('reassembles long strings from frames split across chunks at every boundary near the string', () => {
    const text = ascii(LONG_STRING_BYTES + 2);
    const frame = encodeFrame({ t: 'reply', id: 9, r: text }, DEFAULT_MAX_FRAME_BYTES);
    const stringStart = frame.length - text.length;
    const cuts = [1, 3, 4, 5, 20, 21, 22, 23, stringStart - 1, stringStart, stringStart + 1, frame.length - 2, frame.length - 1];
    for (const cut of cuts) {
      const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES);
      const out: unknown[] = [];
      for (const chunk of [frame.subarray(0, cut), frame.subarray(cut)]) decoder.push(chunk, (payload) => out.push(decodeValue(payload)));
      expect(out).toEqual([{ t: 'reply', id: 9, r: text }]);
    }
  });

  it('finds the long str32 tokens in the walk the screen makes, and only those', () => {
    const long = ascii(LONG_STRING_BYTES);
    const payload = payloadOf({ t: 'call', id: 1, m: 'm', a: [ascii(LONG_STRING_BYTES - 1), long, Buffer.alloc(LONG_STRING_BYTES), long] });
    const offsets: number[] = [];
    screenPayload(payload, offsets);
    expect(offsets).toHaveLength(2);
    for (const at of offsets) {
      expect(payload[at]).toBe(0xdb);
      expect(payload.readUInt32BE(at + 1)).toBe(LONG_STRING_BYTES);
    }
    expect(offsets[0]).toBeLessThan(offsets[1]!);
  });

  it('refuses the placeholder type from the wire, on the daemon (the screen) and on a client', () => {
    const forged = Buffer.from([0xc7, 0x01, LIFTED_STRING_EXTENSION, 0x78]);
    expect(() => decodeValue(forged)).toThrow(ProtocolError);
    expect(() => decodeAuthenticated(forged)).toThrow(ProtocolError);
    expect(() => takeLifted()).toThrow(/not accepted from the wire/);
  });

  it('refuses a truncated long string as msgpackr does, and leaves the payload as it was', () => {
    const payload = payloadOf({ t: 'reply', id: 1, r: ascii(LONG_STRING_BYTES) });
    const truncated = Buffer.from(payload.subarray(0, payload.length - 1));
    const before = Buffer.from(truncated);
    expect(() => decodeValue(truncated)).toThrow(ProtocolError);
    expect(() => decodeAuthenticated(truncated)).toThrow(ProtocolError);
    expect(truncated.equals(before)).toBe(true);
  });

  it('puts the bytes back when the decode throws, and answers with a decode of the restored bytes', () => {
    const payload = payloadOf({ t: 'reply', id: 1, r: ascii(LONG_STRING_BYTES) });
    const before = Buffer.from(payload);
    const offsets: number[] = [];
    screenPayload(payload, offsets);
    const seen: boolean[] = [];
    expect(() =>
      decodeLifting(payload, offsets, () => {
        seen.push(payload.equals(before));
        throw new Error(`boom ${seen.length}`);
      }),
    ).toThrow('boom 2');
    // The first decode saw the placeholders, the second the bytes as they came.
    expect(seen).toEqual([false, true]);
    expect(payload.equals(before)).toBe(true);
    expect(() => takeLifted()).toThrow(/not accepted from the wire/);
  });

  it('skips offsets that are not a complete str32 token', () => {
    const payload = payloadOf({ t: 'reply', id: 1, r: ascii(LONG_STRING_BYTES) });
    const value = decodeLifting(payload, [0, payload.length - 2], (p) => reference.unpack(p));
    expect((value as { r: string }).r).toHaveLength(LONG_STRING_BYTES);
  });

  describe('which strings are lifted (seen through another reader of the placeholder type)', () => {
    // msgpackr's table of extensions is process-wide: a reader registered for the same type
    // later takes the placeholders. The codec must then still decode what msgpackr would,
    // and the calls tell which strings it lifted.
    let taken = 0;
    beforeEach(() => {
      taken = 0;
      addExtension({
        type: LIFTED_STRING_EXTENSION,
        unpack: () => {
          taken++;
          return 'not ours';
        },
      });
    });
    afterEach(() => {
      addExtension({ type: LIFTED_STRING_EXTENSION, unpack: takeLifted });
    });

    for (const [name, decode] of DECODERS) {
      it(`${name}: ASCII strings from the threshold on, not one byte under, and no non-ASCII string`, () => {
        const cases: [string, number][] = [
          [ascii(LONG_STRING_BYTES - 1), 0],
          [ascii(LONG_STRING_BYTES), 1],
          [ascii(LONG_STRING_BYTES + 1), 1],
          [`${ascii(LONG_STRING_BYTES)}é`, 0],
          [`é${ascii(LONG_STRING_BYTES)}`, 0],
        ];
        for (const [text, lifted] of cases) {
          taken = 0;
          expect((decodeChecked(decode, payloadOf({ t: 'reply', id: 1, r: text })) as { r: string }).r).toBe(text);
          expect(taken).toBe(lifted);
        }
      });

      it(`${name}: a reader registered with \`read\` (which msgpackr cannot call on an ext32) does not break the decode`, () => {
        addExtension({ type: LIFTED_STRING_EXTENSION, read: (value: unknown) => value });
        const text = ascii(LONG_STRING_BYTES);
        expect((decodeChecked(decode, payloadOf({ t: 'reply', id: 1, r: text })) as { r: string }).r).toBe(text);
      });

      it(`${name}: every long ASCII string of a payload, keys and values in containers and extensions`, () => {
        const a = ascii(LONG_STRING_BYTES, 'a');
        const b = ascii(LONG_STRING_BYTES + 3, 'b');
        const message = { t: 'call', id: 7, m: 'echo', a: [a, { [b]: 1, inner: [`${a}ü`, a, new Set([b]), new Map([[1, b]])] }] };
        decodeChecked(decode, payloadOf(message));
        expect(taken).toBe(5);
      });
    }
  });
});
