/**
 * Properties of the receive pipeline every connection runs on untrusted bytes:
 * FrameDecoder.push -> decodeValue -> parseClientMessage (daemon) / parseDaemonMessage
 * (client). Random bytes, truncated frames, corrupted payloads, hostile MessagePack and
 * oversized or empty headers only ever produce ProtocolError (never another error type,
 * never a crash), and never hang: push returns synchronously having consumed every byte it
 * was given, and a frame cut short leaves hasPartialFrame true. A hang fails a property by its
 * test's timeout, not by a clock per input: no duration is asserted (under a mutation run's
 * instrumentation the 200,000-deep payload alone takes 2-6 s).
 *
 * Knobs: FC_RUNS=N multiplies the number of runs (default sized for CI); FC_SEED=S
 * (and FC_PATH=P) replays a failure that fast-check reported. See test/property/support.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { decodeValue, DEFAULT_MAX_FRAME_BYTES, encodeFrame, encodeValue, FrameDecoder, HEADER_BYTES } from '../../src/wire/codec.js';
import { parseClientMessage, parseDaemonMessage } from '../../src/wire/parse.js';
import { DANGEROUS_NAMES, msgpackValue, params, sameValue, timeout } from './support.js';

/** The codes the pipeline may throw; anything else (or another class) fails the property. */
const FRAME_CODES = new Set(['ERR_PROTOCOL', 'ERR_FRAME_TOO_LARGE']);
const VALUE_CODES = new Set(['ERR_PROTOCOL']);
const PARSE_CODES = new Set(['ERR_PROTOCOL', 'ERR_UNKNOWN_MESSAGE']);

function header(length: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.writeUInt32BE(length >>> 0, 0);
  return h;
}

function frameOf(payload: Uint8Array): Buffer {
  return Buffer.concat([header(payload.length), payload]);
}

/** A MessagePack extension value of `type` carrying `data`, in the smallest form. */
function ext(type: number, data: Uint8Array): Buffer {
  const t = type & 0xff;
  const fixed: Record<number, number> = { 1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8 };
  const n = data.length;
  let head: number[];
  if (fixed[n] !== undefined) head = [fixed[n]!, t];
  else if (n <= 0xff) head = [0xc7, n, t];
  else if (n <= 0xffff) head = [0xc8, n >> 8, n & 0xff, t];
  else head = [0xc9, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff, t];
  return Buffer.concat([Buffer.from(head), data]);
}

const randomBytes = (maxLength: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));

/**
 * Extension types: 0 (undefined), -1 (timestamp), msgpackr's own (BigInt, Error, Set, typed
 * arrays, RegExp, references, bundled strings, record definitions) and any other.
 */
const extType = fc.oneof(fc.constantFrom(0, -1, 0x42, 0x65, 0x73, 0x74, 0x78, 0x69, 0x70, 0x62, 0x72), fc.integer({ min: -128, max: 127 }));

/** Values the msgpackr extension readers unpack from their data, hostile on purpose. */
const hostileInner = fc.oneof(
  msgpackValue,
  fc.tuple(fc.constantFrom(...DANGEROUS_NAMES, 'Error', 'TypeError', 'Function', 'eval'), msgpackValue, msgpackValue),
  fc.tuple(fc.constantFrom('(', '(a+)+$', '[', '\\', 'a'), fc.constantFrom('g', 'zz', '', 'gimsuyd', 'v')),
);

const extValue = fc.oneof(
  fc.tuple(extType, randomBytes(20)).map(([type, data]) => ext(type, data)),
  fc.tuple(extType, hostileInner).map(([type, inner]) => ext(type, encodeValue(inner))),
  // A typed-array extension: a type byte then raw bytes of any (mis)alignment.
  fc.tuple(fc.nat(30), randomBytes(33)).map(([kind, data]) => ext(0x74, Buffer.concat([Buffer.from([kind]), data]))),
);

/** Hand-made hostile MessagePack, each a payload on its own. */
const NASTY: readonly Buffer[] = [
  Buffer.concat([Buffer.alloc(200_000, 0x91), Buffer.from([0xc0])]), // nesting far past the stack
  Buffer.concat([Buffer.alloc(50_000 * 3, 0).fill(Buffer.from([0x81, 0xa1, 0x61])), Buffer.from([0xc0])]),
  Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), // array32 of 4G elements, no data
  Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff]), // map32 of 4G entries, no data
  Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff, 0x61]), // str32 of 4 GiB
  Buffer.from([0xc6, 0xff, 0xff, 0xff, 0xff, 0x00]), // bin32 of 4 GiB
  Buffer.from([0xc9, 0xff, 0xff, 0xff, 0xff, 0x01]), // ext32 of 4 GiB
  Buffer.from([0xdc, 0xff, 0xff]), // array16, no data
  Buffer.from([0xc1]), // the reserved byte
  Buffer.from([0x91, 0xc1]), // the reserved byte nested (accepted as a marker, PROTOCOL.md §2)
  Buffer.from([0x81, 0xc1, 0x01]), // the reserved byte as a map key
  Buffer.from([0x81, 0xc4, 0x01, 0x00, 0x01]), // a bin map key
  Buffer.from([0x81, 0x90, 0x01]), // an array map key
  Buffer.from([0x81, 0x80, 0x01]), // a map map key
  Buffer.from([0x81, 0xd6, 0xff, 0, 0, 0, 1, 0x01]), // a timestamp map key
  Buffer.from([0xc7, 0x03, 0xff, 1, 2, 3]), // a timestamp of a bad length
  Buffer.from([0xd4, 0x72, 0x40]), // a record definition with nothing after it
  Buffer.from([0x92, 0xd4, 0x72, 0x40, 0x40]), // a record definition, then a reference to it
  Buffer.from([0x40]), // a record reference with no definition
  Buffer.from([0xd5, 0x62, 0x00, 0x05, 0xa1, 0x61]), // bundled strings past the end
  Buffer.from([0xd4, 0x70, 0x05]), // a structured-clone pointer to nothing
  Buffer.from([0xcb, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]), // NaN
  Buffer.from([0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // uint64 max (BigInt)
  Buffer.from([0xa3, 0xff, 0xfe, 0xfd]), // a str of invalid UTF-8
  Buffer.from([0x01, 0x02]), // trailing bytes
];

/** A MessagePack fragment: a well-formed value, an extension, a hostile value or junk. */
const fragment: fc.Arbitrary<Buffer> = fc.oneof(
  { arbitrary: msgpackValue.map((value) => encodeValue(value)), weight: 4 },
  { arbitrary: extValue, weight: 3 },
  { arbitrary: fc.constantFrom(...NASTY.filter((n) => n.length < 100)), weight: 1 },
  { arbitrary: randomBytes(8), weight: 1 },
  { arbitrary: fc.constantFrom('t', 'id', 'm', 'a', 'v', 'nonce', 'proof', ...DANGEROUS_NAMES).map((key) => encodeValue(key)), weight: 2 },
);

/** A payload: structure-aware junk, nasty constants, or pure random bytes. */
const payloadBytes: fc.Arbitrary<Buffer> = fc.oneof(
  { arbitrary: fragment, weight: 3 },
  {
    arbitrary: fc.array(fragment, { maxLength: 6 }).map((items) => Buffer.concat([Buffer.from([0x90 | items.length]), ...items])),
    weight: 2,
  },
  {
    arbitrary: fc.array(fc.tuple(fragment, fragment), { maxLength: 5 }).map((pairs) => Buffer.concat([Buffer.from([0x80 | pairs.length]), ...pairs.flat()])),
    weight: 3,
  },
  { arbitrary: fc.constantFrom(...NASTY), weight: 1 },
  { arbitrary: randomBytes(64), weight: 2 },
);

/** One segment of an input stream. */
const segment: fc.Arbitrary<Buffer> = fc.oneof(
  // A well-formed frame around any payload bytes.
  { arbitrary: payloadBytes.filter((p) => p.length > 0).map(frameOf), weight: 6 },
  // A frame whose header lies about the length (bleeds into, or stops short of, the next one).
  {
    arbitrary: fc.tuple(payloadBytes, fc.integer({ min: -8, max: 8 })).map(([p, delta]) => Buffer.concat([header(Math.max(0, p.length + delta)), p])),
    weight: 2,
  },
  // A valid message frame with some payload bytes overwritten.
  {
    arbitrary: fc.tuple(msgpackValue, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 })).map(([value, edits]) => {
      const frame = Buffer.from(encodeFrame({ t: 'call', id: 1, m: 'inc', a: [value] }, DEFAULT_MAX_FRAME_BYTES));
      for (const [at, byte] of edits) frame[HEADER_BYTES + (at % (frame.length - HEADER_BYTES))] = byte;
      return frame;
    }),
    weight: 2,
  },
  // A header announcing any length (often over the cap), maybe with a few bytes after it.
  { arbitrary: fc.tuple(fc.nat({ max: 0xffffffff }), randomBytes(8)).map(([n, tail]) => Buffer.concat([header(n), tail])), weight: 1 },
  { arbitrary: fc.constant(header(0)), weight: 1 },
  // Junk where a header should be.
  { arbitrary: randomBytes(16), weight: 1 },
);

/** A whole input: segments, possibly cut short, and the cap the receiver enforces. */
const input = fc.record({
  stream: fc.oneof(
    { arbitrary: randomBytes(512), weight: 1 },
    {
      arbitrary: fc.tuple(fc.array(segment, { minLength: 1, maxLength: 5 }), fc.option(fc.nat(), { freq: 2 })).map(([segments, cut]) => {
        const stream = Buffer.concat(segments);
        return cut === null ? stream : stream.subarray(0, cut % (stream.length + 1));
      }),
      weight: 5,
    },
  ),
  // Caps above the default are left out: FrameDecoder allocates the announced payload size as
  // soon as a header under the cap arrives (Buffer.allocUnsafe(length)), so a 0xffffffff cap
  // would reserve up to 4 GiB per run. (Where that allocation fails, for example under a
  // memory limit, push throws RangeError "Array buffer allocation failed", not ProtocolError.)
  maxFrameBytes: fc.oneof(fc.constant(DEFAULT_MAX_FRAME_BYTES), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: DEFAULT_MAX_FRAME_BYTES })),
  cuts: fc.array(fc.nat(), { maxLength: 12 }),
});

/** What a correct decoder does with `stream`, worked out independently of FrameDecoder. */
interface Expected {
  readonly payloads: readonly Buffer[];
  /** The error, and the stream offset just past the header that causes it. */
  readonly error?: { readonly code: string; readonly at: number };
  readonly partialAtEnd: boolean;
}

function expectedSplit(stream: Buffer, maxFrameBytes: number): Expected {
  const payloads: Buffer[] = [];
  let at = 0;
  for (;;) {
    if (stream.length - at < HEADER_BYTES) return { payloads, partialAtEnd: at < stream.length };
    const length = stream.readUInt32BE(at);
    at += HEADER_BYTES;
    // The cap is checked before the empty-payload check (PROTOCOL.md §2).
    if (length > maxFrameBytes) return { payloads, error: { code: 'ERR_FRAME_TOO_LARGE', at }, partialAtEnd: false };
    if (length === 0) return { payloads, error: { code: 'ERR_PROTOCOL', at }, partialAtEnd: false };
    if (stream.length - at < length) return { payloads, partialAtEnd: true };
    payloads.push(stream.subarray(at, at + length));
    at += length;
  }
}

/** Fails unless `error` is a ProtocolError with one of `codes`. */
function expectProtocolError(error: unknown, codes: ReadonlySet<string>, where: string): void {
  if (!(error instanceof ProtocolError) || !codes.has(error.code)) {
    const description =
      error instanceof Error
        ? `${error.constructor.name} ${JSON.stringify((error as { code?: unknown }).code)}: ${error.message}`
        : `a thrown ${typeof error}: ${String(error)}`;
    expect.fail(`${where} threw ${description}; only ProtocolError with ${[...codes].join(' or ')} is allowed`);
  }
}

/** decodeValue then both parsers, the way each side handles one payload. */
function pipeline(payload: Uint8Array): void {
  let value: unknown;
  try {
    value = decodeValue(payload);
  } catch (error) {
    expectProtocolError(error, VALUE_CODES, 'decodeValue');
    return;
  }
  for (const parse of [parseClientMessage, parseDaemonMessage]) {
    try {
      parse(value);
    } catch (error) {
      expectProtocolError(error, PARSE_CODES, parse.name);
    }
  }
}

describe('property: hostile input only ever produces ProtocolError, and never hangs', () => {
  it(
    'FrameDecoder splits any byte stream exactly as specified, and fails only with ProtocolError',
    () => {
      fc.assert(
        fc.property(input, ({ stream, maxFrameBytes, cuts }) => {
          const expected = expectedSplit(stream, maxFrameBytes);
          const bounds = [0, ...cuts.map((cut) => cut % (stream.length + 1)).sort((a, b) => a - b), stream.length];
          const decoder = new FrameDecoder(maxFrameBytes);
          const payloads: Buffer[] = [];
          let thrown: { error: unknown; from: number; to: number } | undefined;
          for (let i = 1; i < bounds.length && thrown === undefined; i++) {
            const [from, to] = [bounds[i - 1]!, bounds[i]!];
            try {
              // Synchronous: push returns (or throws) having dealt with the whole chunk.
              decoder.push(stream.subarray(from, to), (payload) => {
                payloads.push(payload);
                pipeline(payload);
              });
            } catch (error) {
              thrown = { error, from, to };
            }
          }
          if (thrown?.error instanceof Error && thrown.error.message.includes('only ProtocolError')) throw thrown.error;
          expect(payloads.length, 'payloads handed over').toBe(expected.payloads.length);
          for (let k = 0; k < payloads.length; k++) expect(payloads[k]!.equals(expected.payloads[k]!), `payload ${k}`).toBe(true);
          if (expected.error) {
            expect(thrown, `the decoder must throw ${expected.error.code}`).toBeDefined();
            expectProtocolError(thrown!.error, FRAME_CODES, 'FrameDecoder.push');
            expect((thrown!.error as ProtocolError).code).toBe(expected.error.code);
            // Thrown by the push that completed the offending header, before any payload.
            expect(thrown!.from < expected.error.at && expected.error.at <= thrown!.to, 'thrown as the header completes').toBe(true);
          } else {
            expect(thrown?.error, 'no error expected').toBeUndefined();
            // A frame cut short waits for more bytes; it is reported, not waited on.
            expect(decoder.hasPartialFrame).toBe(expected.partialAtEnd);
          }
        }),
        params(1000),
      );
    },
    timeout(30_000),
  );

  it(
    'decodeValue of any bytes returns a value or throws ProtocolError, and leaves no state behind',
    () => {
      fc.assert(
        fc.property(fc.array(payloadBytes, { minLength: 1, maxLength: 4 }), msgpackValue, (garbage, value) => {
          for (const bytes of garbage) {
            try {
              decodeValue(bytes);
            } catch (error) {
              expectProtocolError(error, VALUE_CODES, 'decodeValue');
            }
            // One shared decoder serves every connection: whatever the garbage did (record
            // definitions, bundled strings, references, a stack overflow) must not change how
            // the next, valid payload decodes.
            expect(sameValue(decodeValue(encodeValue(value)), value), 'a valid payload after garbage').toBe(true);
          }
        }),
        params(1000),
      );
    },
    timeout(30_000),
  );

  it(
    'parseClientMessage and parseDaemonMessage reject any decoded map only with ProtocolError',
    () => {
      const T_VALUES = ['hello', 'auth', 'call', 'ping', 'shutdown', 'challenge', 'welcome', 'reply', 'error', '', 'constructor', '__proto__', 'toString'];
      // A value with the names that objects answer to by default (toString, valueOf, ...)
      // as its own keys: what a hostile peer can put in any field, `t` included.
      const objectWithDangerousKeys = fc.dictionary(
        fc.constantFrom(...DANGEROUS_NAMES).filter((k) => k !== '__proto__'),
        msgpackValue,
        {
          minKeys: 1,
          maxKeys: 4,
          noNullPrototype: true,
        },
      );
      const anyField = fc.oneof(msgpackValue, objectWithDangerousKeys, fc.array(objectWithDangerousKeys, { maxLength: 2 }));
      const fields = fc.dictionary(
        fc.constantFrom('id', 'm', 'a', 'v', 'pkg', 'nonce', 'proof', 'observe', 'force', 'e', 'info', 'r', ...DANGEROUS_NAMES).filter((k) => k !== '__proto__'),
        anyField,
        { maxKeys: 5, noNullPrototype: true },
      );
      const message = fc.tuple(fc.oneof(fc.constantFrom(...T_VALUES), anyField), fields).map(([t, rest]) => ({ ...rest, t }));
      fc.assert(
        fc.property(message, (sent) => {
          // Through the wire, as a peer would send it.
          pipeline(encodeValue(sent));
        }),
        params(1000),
      );
    },
    timeout(30_000),
  );
});
