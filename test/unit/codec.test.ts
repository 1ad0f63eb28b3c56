import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { decodeValue, DEFAULT_MAX_FRAME_BYTES, encodeFrame, encodeValue, FrameDecoder, HEADER_BYTES } from '../../src/wire/codec.js';

/** Messages of varied shapes and sizes, including ones that force multi-byte lengths. */
const MESSAGES: readonly unknown[] = [
  { t: 'ping', id: 0 },
  { t: 'call', id: 1, m: 'inc', a: [1, 'two', null, true, 3.5] },
  { t: 'reply', id: 2, r: 'héllo wörld ✓ 日本' },
  { t: 'hello', v: 1, pkg: '0.1.0', nonce: Buffer.from(Array.from({ length: 32 }, (_, i) => i)) },
  { t: 'reply', id: 3, r: { nested: { deep: [1, [2, [3]]] }, empty: {} } },
  { t: 'reply', id: 4, r: 'x'.repeat(300) },
  42,
  'a bare string',
  [],
];

function framesOf(messages: readonly unknown[]): Buffer[] {
  // Encode every frame before using any, so a codec that reused its output buffer would
  // corrupt the earlier frames and fail the tests below.
  return messages.map((message) => encodeFrame(message, DEFAULT_MAX_FRAME_BYTES));
}

/** Feeds `chunks` to a fresh decoder and decodes every payload it yields. */
function decodeChunks(chunks: readonly Buffer[], maxFrameBytes = DEFAULT_MAX_FRAME_BYTES): unknown[] {
  const decoder = new FrameDecoder(maxFrameBytes);
  const out: unknown[] = [];
  for (const chunk of chunks) decoder.push(chunk, (payload) => out.push(decodeValue(payload)));
  expect(decoder.hasPartialFrame).toBe(false);
  return out;
}

/** Deterministic PRNG (mulberry32) so random chunkings are reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function header(length: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.writeUInt32BE(length, 0);
  return h;
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected the function to throw');
}

function expectProtocolError(fn: () => unknown, code: string): void {
  const error = catchError(fn);
  expect(error).toBeInstanceOf(ProtocolError);
  expect((error as ProtocolError).code).toBe(code);
}

describe('encodeFrame', () => {
  it('prefixes the MessagePack payload with its 4-byte big-endian length', () => {
    const frame = encodeFrame({ t: 'ping', id: 7 }, DEFAULT_MAX_FRAME_BYTES);
    expect(Buffer.isBuffer(frame)).toBe(true);
    expect(frame.readUInt32BE(0)).toBe(frame.length - HEADER_BYTES);
    expect(decodeValue(frame.subarray(HEADER_BYTES))).toEqual({ t: 'ping', id: 7 });
  });

  it('writes standard MessagePack maps (no msgpackr records), decoded as plain objects', () => {
    const frame = encodeFrame({ a: 1 }, DEFAULT_MAX_FRAME_BYTES);
    const payload = [...frame.subarray(HEADER_BYTES)];
    // A map header of the standard family (fixmap, map16 or map32; never a msgpackr record
    // extension), then fixstr "a" and positive fixint 1.
    expect([0x81, 0xde, 0xdf]).toContain(payload[0]);
    expect(payload.slice(-3)).toEqual([0xa1, 0x61, 0x01]);
    expect(payload.some((byte) => byte >= 0xc7 && byte <= 0xc9)).toBe(false); // no ext8/16/32
    const decoded = decodeValue(frame.subarray(HEADER_BYTES));
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
  });

  it('keeps earlier frames intact while more are encoded', () => {
    const frames = framesOf(MESSAGES);
    for (let i = 0; i < 50; i++) encodeFrame({ filler: i, s: 'y'.repeat(i * 10) }, DEFAULT_MAX_FRAME_BYTES);
    expect(frames.map((frame) => decodeValue(frame.subarray(HEADER_BYTES)))).toEqual(MESSAGES);
  });

  it('accepts a payload of exactly maxFrameBytes and rejects one byte less of room', () => {
    const value = { r: 'z'.repeat(100) };
    const size = encodeFrame(value, DEFAULT_MAX_FRAME_BYTES).length - HEADER_BYTES;
    expect(encodeFrame(value, size).readUInt32BE(0)).toBe(size);
    expectProtocolError(() => encodeFrame(value, size - 1), 'ERR_FRAME_TOO_LARGE');
  });

  it('throws ERR_FRAME_TOO_LARGE for an oversized value', () => {
    expectProtocolError(() => encodeFrame({ t: 'reply', id: 1, r: 'x'.repeat(2048) }, 1024), 'ERR_FRAME_TOO_LARGE');
  });

  it.each([
    ['a symbol', Symbol('nope')],
    ['a symbol inside a map', { t: 'reply', id: 1, r: Symbol('nope') }],
    ['a symbol inside an array', { t: 'call', id: 1, m: 'x', a: [Symbol('nope')] }],
    [
      'a cyclic structure',
      (() => {
        const o: Record<string, unknown> = {};
        o.self = o;
        return o;
      })(),
    ],
  ])('throws ERR_UNENCODABLE for an unencodable value: %s', (_label, value) => {
    expectProtocolError(() => encodeFrame(value, DEFAULT_MAX_FRAME_BYTES), 'ERR_UNENCODABLE');
  });
});

describe('encodeValue / decodeValue', () => {
  it.each([
    ['null', null],
    ['a number', -12.25],
    ['a string', 'ünïcødé'],
    ['bytes', Buffer.from([0, 1, 2, 255])],
    ['an array', [1, 'a', [true]]],
    ['a map', { a: { b: [1, 2] }, c: 'd' }],
  ])('round-trips %s', (_label, value) => {
    expect(decodeValue(encodeValue(value))).toEqual(value);
  });

  it('decodes bytes as a Uint8Array', () => {
    expect(decodeValue(encodeValue(Buffer.from([9, 8, 7])))).toBeInstanceOf(Uint8Array);
  });

  it('throws ERR_UNENCODABLE for an unencodable value (a symbol)', () => {
    expectProtocolError(() => encodeValue(Symbol('nope')), 'ERR_UNENCODABLE');
  });

  it.each([
    ['an empty payload', []],
    ['a truncated array', [0x92, 0x01]],
    ['a truncated string', [0xa5, 0x61, 0x62]],
    ['a truncated map', [0x81, 0xa1, 0x61]],
    ['trailing bytes after one value', [0x01, 0x02]],
    ['an unknown extension type', [0xd4, 0x05, 0x00]],
    ['the never-used byte 0xc1', [0xc1]],
    ['a truncated extension header', [0x91, 0xd4]],
    ['an ext8 whose data runs past the end', [0xc7, 0x05, 0x00, 0x01]],
  ])('decodeValue throws ERR_PROTOCOL for %s', (_label, bytes) => {
    expectProtocolError(() => decodeValue(Buffer.from(bytes)), 'ERR_PROTOCOL');
  });
});

describe('FrameDecoder', () => {
  const frames = framesOf(MESSAGES);
  const stream = Buffer.concat(frames);

  it('decodes a stream pushed in one chunk (several frames per chunk) in order', () => {
    expect(decodeChunks([stream])).toEqual(MESSAGES);
  });

  it('hands over each payload byte for byte', () => {
    const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES);
    const payloads: Buffer[] = [];
    decoder.push(stream, (payload) => payloads.push(Buffer.from(payload)));
    expect(payloads).toEqual(frames.map((frame) => frame.subarray(HEADER_BYTES)));
  });

  it('decodes the same messages when the stream is split in two at every byte boundary', () => {
    for (let split = 0; split <= stream.length; split++) {
      const decoded = decodeChunks([stream.subarray(0, split), stream.subarray(split)]);
      expect(decoded, `split at byte ${split}`).toEqual(MESSAGES);
    }
  });

  it('decodes the same messages when the stream arrives one byte at a time', () => {
    const chunks = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
    expect(decodeChunks(chunks)).toEqual(MESSAGES);
  });

  it('decodes the same messages for random chunkings', () => {
    const random = prng(0x5eed);
    for (let round = 0; round < 200; round++) {
      const chunks: Buffer[] = [];
      let offset = 0;
      while (offset < stream.length) {
        // Mostly small chunks so headers and payloads split often, sometimes large ones.
        const size = random() < 0.8 ? 1 + Math.floor(random() * 8) : 1 + Math.floor(random() * 400);
        chunks.push(stream.subarray(offset, offset + size));
        offset += size;
      }
      expect(decodeChunks(chunks), `round ${round}`).toEqual(MESSAGES);
    }
  });

  it('tolerates empty chunks anywhere', () => {
    const empty = Buffer.alloc(0);
    const [first, second] = frames as [Buffer, Buffer];
    const chunks = [empty, first.subarray(0, 2), empty, first.subarray(2), empty, second, empty];
    expect(decodeChunks(chunks)).toEqual(MESSAGES.slice(0, 2));
  });

  it('assembles a frame whose header is split across chunks', () => {
    const frame = frames[1]!;
    expect(decodeChunks([frame.subarray(0, 2), frame.subarray(2)])).toEqual([MESSAGES[1]]);
    expect(decodeChunks([frame.subarray(0, 1), frame.subarray(1, 2), frame.subarray(2, 3), frame.subarray(3, 4), frame.subarray(4)])).toEqual([MESSAGES[1]]);
  });

  it('assembles a header split across chunks that also carry the end of the previous frame', () => {
    const [a, b, c] = frames as [Buffer, Buffer, Buffer];
    const chunks = [Buffer.concat([a, b.subarray(0, 3)]), Buffer.concat([b.subarray(3), c.subarray(0, 1)]), c.subarray(1)];
    expect(decodeChunks(chunks)).toEqual(MESSAGES.slice(0, 3));
  });

  it('accepts a frame of exactly maxFrameBytes', () => {
    const frame = encodeFrame({ r: 'q'.repeat(500) }, DEFAULT_MAX_FRAME_BYTES);
    const size = frame.length - HEADER_BYTES;
    expect(decodeChunks([frame.subarray(0, 4), frame.subarray(4)], size)).toEqual([{ r: 'q'.repeat(500) }]);
  });

  it('rejects a header announcing more than maxFrameBytes from the 4 header bytes alone', () => {
    const decoder = new FrameDecoder(1024);
    const payloads: Buffer[] = [];
    expectProtocolError(() => decoder.push(header(1025), (payload) => payloads.push(payload)), 'ERR_FRAME_TOO_LARGE');
    expect(payloads).toEqual([]);
  });

  it('rejects an oversized header that arrives split across chunks', () => {
    const decoder = new FrameDecoder(1024);
    const big = header(0xffffffff);
    decoder.push(big.subarray(0, 2), () => undefined);
    expectProtocolError(() => decoder.push(big.subarray(2), () => undefined), 'ERR_FRAME_TOO_LARGE');
  });

  it('rejects an oversized header that follows a valid frame in the same chunk, after delivering that frame', () => {
    const decoder = new FrameDecoder(1024);
    const out: unknown[] = [];
    const chunk = Buffer.concat([frames[0]!, header(1 << 20)]);
    expectProtocolError(() => decoder.push(chunk, (payload) => out.push(decodeValue(payload))), 'ERR_FRAME_TOO_LARGE');
    expect(out).toEqual([MESSAGES[0]]);
  });

  it('rejects a zero-length frame with ERR_PROTOCOL', () => {
    const decoder = new FrameDecoder(1024);
    expectProtocolError(() => decoder.push(header(0), () => undefined), 'ERR_PROTOCOL');
  });

  it('reports hasPartialFrame only while a frame is incomplete', () => {
    const decoder = new FrameDecoder(DEFAULT_MAX_FRAME_BYTES);
    const noop = (): void => undefined;
    const [a, b] = frames as [Buffer, Buffer];
    expect(decoder.hasPartialFrame).toBe(false);
    decoder.push(a.subarray(0, 2), noop); // half a header
    expect(decoder.hasPartialFrame).toBe(true);
    decoder.push(a.subarray(2, 4), noop); // the full header, no payload yet
    expect(decoder.hasPartialFrame).toBe(true);
    decoder.push(a.subarray(4, 5), noop); // part of the payload
    expect(decoder.hasPartialFrame).toBe(true);
    decoder.push(a.subarray(5), noop); // the rest
    expect(decoder.hasPartialFrame).toBe(false);
    decoder.push(Buffer.concat([b, a.subarray(0, 1)]), noop); // a whole frame then one byte
    expect(decoder.hasPartialFrame).toBe(true);
    decoder.push(a.subarray(1), noop);
    expect(decoder.hasPartialFrame).toBe(false);
  });
});

/** msgpackr on its own, configured as the codec is: what it accepts without the screen. */
const bare = new Packr({ useRecords: false, mapsAsObjects: true });

/** A call whose only argument is `arg`'s bytes, as a hostile peer would frame it. */
function callWith(arg: readonly number[]): Buffer {
  const head = encodeValue({ t: 'call', id: 1, m: 'echo' });
  // map16 with 4 entries instead of 3, then "a": [arg]
  return Buffer.concat([Buffer.from([0xde, 0x00, 0x04]), head.subarray(3), encodeValue('a'), Buffer.from([0x91, ...arg])]);
}

/** A DAG of structured-clone references: level i is [level i-1, level i-1], 2^depth leaves. */
function dag(depth: number): Buffer {
  let node: unknown[] = [];
  for (let i = 0; i < depth; i++) node = [node, node];
  return new Packr({ structuredClone: true, useRecords: false }).pack({ t: 'call', id: 1, m: 'echo', a: [node] });
}

describe('decodeValue accepts only what docs/PROTOCOL.md §2 lists', () => {
  // Each is well-formed for msgpackr (checked first), so only the screen refuses it: remove the
  // screen from decodeValue and every case here fails.
  it.each([
    ['a structured-clone DAG (0x69 ids, 0x70 pointers)', dag(20)],
    ['a structured-clone id (0x69) around a value', Buffer.from([0xd6, 0x69, 0, 0, 0, 1, 0x90])],
    ['a structured-clone id (0x69) then a pointer (0x70) to it', Buffer.from([0x92, 0xd6, 0x69, 0, 0, 0, 1, 0x90, 0xd6, 0x70, 0, 0, 0, 1])],
    ['a record definition (0x72, fixext1) and its use', Buffer.from([0xd4, 0x72, 0x40, 0x91, 0xa1, 0x61, 0x01])],
    ['a record definition (0x72, fixext2, with a high byte)', Buffer.from([0xd5, 0x72, 0x40, 0x01, 0x91, 0xa1, 0x61, 0x01])],
    ['records as msgpackr writes them', new Packr({ useRecords: true }).pack([{ a: 1 }, { a: 2 }])],
    ['bundled strings (0x62)', new Packr({ bundleStrings: true, useRecords: false }).pack({ a: 'x'.repeat(40), b: ['y'.repeat(40)] })],
    ['a reference nested deep inside a call', callWith([0x91, 0x91, 0xd6, 0x69, 0, 0, 0, 1, 0x90])],
    ['a reference inside a Set (an allowed extension followed by its value)', Buffer.from([0xd4, 0x73, 0x00, 0x91, 0xd6, 0x69, 0, 0, 0, 1, 0x90])],
    ['a reference as a map key', Buffer.from([0x81, 0xd6, 0x69, 0, 0, 0, 1, 0xa1, 0x61, 0x01])],
    ['a reference after a string whose bytes look like an extension', Buffer.from([0x92, 0xa3, 0xd6, 0x69, 0x00, 0xd6, 0x69, 0, 0, 0, 1, 0x90])],
  ])('refuses %s with ERR_PROTOCOL', (_label, payload) => {
    expect(() => bare.unpack(payload), 'msgpackr alone accepts it').not.toThrow();
    expectProtocolError(() => decodeValue(payload), 'ERR_PROTOCOL');
  });

  it('refuses every extension type it does not list, in each extension header form', () => {
    const allowed = new Set([0x00, 0xff, 0x42, 0x65, 0x73, 0x74, 0x78]);
    for (let type = 0; type < 256; type++) {
      if (allowed.has(type)) continue;
      for (const bytes of [
        [0xd4, type, 0x00],
        [0xd6, type, 0, 0, 0, 0],
        [0xc7, 0x01, type, 0x00],
        [0xc8, 0x00, 0x01, type, 0x00],
        [0xc9, 0, 0, 0, 0x01, type, 0x00],
      ]) {
        expectProtocolError(() => decodeValue(Buffer.from([0x91, ...bytes])), 'ERR_PROTOCOL');
      }
    }
  });

  it('still decodes 0x40-0x7f as positive fixints (never as record references)', () => {
    expect(decodeValue(Buffer.from([0x93, 0x40, 0x55, 0x7f]))).toEqual([0x40, 0x55, 0x7f]);
  });

  // msgpackr writes its own extension types only with moreTypes; the daemon never does, but a
  // peer may, and PROTOCOL.md lists them as accepted.
  const moreTypes = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: true, useBigIntExtension: true });
  it.each([
    ['undefined (ext 0)', undefined, encodeValue(undefined)],
    ['undefined as ext8 with data (ext 0)', undefined, Buffer.from([0xc7, 0x02, 0x00, 0xaa, 0xbb])],
    ['a Date (ext -1, 64-bit)', new Date(1_795_829_162_255), encodeValue(new Date(1_795_829_162_255))],
    ['a Date (ext -1, 32-bit)', new Date(1_700_000_000_000), encodeValue(new Date(1_700_000_000_000))],
    ['a Date (ext -1, 96-bit)', new Date(-1e15), encodeValue(new Date(-1e15))],
    ['a BigInt beyond 64 bits (0x42)', 2n ** 100n + 7n, moreTypes.pack(2n ** 100n + 7n)],
    ['a negative BigInt (0x42)', -(2n ** 70n), moreTypes.pack(-(2n ** 70n))],
    ['a 64-bit int (as BigInt)', 2n ** 63n, encodeValue(2n ** 63n)],
    ['a Set (0x73)', new Set([1, 'two', [3]]), moreTypes.pack(new Set([1, 'two', [3]]))],
    ['a RegExp (0x78)', /a+b/giu, moreTypes.pack(/a+b/giu)],
    ['a Float64Array (0x74)', new Float64Array([1.5, -2]), moreTypes.pack(new Float64Array([1.5, -2]))],
    ['an Int16Array (0x74)', new Int16Array([-3, 4]), moreTypes.pack(new Int16Array([-3, 4]))],
    ['an ArrayBuffer (0x74)', new Uint8Array([1, 2, 3]).buffer, moreTypes.pack(new Uint8Array([1, 2, 3]).buffer)],
    [
      'a nested mix',
      { s: new Set([new Date(0)]), r: [/x/], n: [undefined, null, 1.5, -1, 'é'] },
      moreTypes.pack({ s: new Set([new Date(0)]), r: [/x/], n: [undefined, null, 1.5, -1, 'é'] }),
    ],
  ])('accepts %s', (_label, value, payload) => {
    expect(decodeValue(payload)).toEqual(value);
  });

  it.each([
    ['an Error (0x65)', new TypeError('bad', { cause: 'why' })],
    ['an AggregateError (0x65)', new AggregateError([new Error('inner')], 'outer')],
  ])('accepts %s', (_label, error) => {
    const decoded = decodeValue(moreTypes.pack(error)) as Error;
    expect(decoded).toBeInstanceOf(error.constructor);
    expect([decoded.name, decoded.message, decoded.cause]).toEqual([error.name, error.message, error.cause]);
  });

  it("accepts a nested 0xc1 as msgpackr's marker (PROTOCOL.md §2)", () => {
    expect(decodeValue(Buffer.from([0x91, 0xc1]))).toEqual([bare.unpack(Buffer.from([0xc1]))]);
  });
});
