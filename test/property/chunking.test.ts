/**
 * Property: however a valid frame stream is cut into chunks, FrameDecoder hands over the
 * same payloads, in order, and they decode to the messages that were encoded.
 *
 * Knobs: FC_RUNS=N multiplies the number of runs (default sized for CI); FC_SEED=S
 * (and FC_PATH=P) replays a failure that fast-check reported. See test/property/support.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ProtocolError } from '../../src/errors.js';
import { decodeValue, DEFAULT_MAX_FRAME_BYTES, encodeFrame, FrameDecoder, HEADER_BYTES } from '../../src/wire/codec.js';
import { NONCE_BYTES } from '../../src/wire/messages.js';
import { parseClientMessage, parseDaemonMessage } from '../../src/wire/parse.js';
import { msgpackValue, params, sameValue, timeout } from './support.js';

const bytes = (length: number): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength: length, maxLength: length }).map((array) => Buffer.from(array));

/** A record arbitrary of plain objects (fast-check makes null-prototype ones by default). */
const record = <T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> => fc.record(model, { noNullPrototype: true }) as fc.Arbitrary<T>;

const id = fc.oneof(fc.nat(), fc.nat({ max: 2 ** 32 - 1 }), fc.maxSafeNat());

/** Well-formed protocol messages of both directions. */
const protocolMessage: fc.Arbitrary<unknown> = fc.oneof(
  record({ t: fc.constant('hello'), v: fc.nat(3), pkg: fc.string(), nonce: bytes(NONCE_BYTES) }),
  record({ t: fc.constant('hello'), v: fc.nat(3), pkg: fc.string(), nonce: bytes(NONCE_BYTES), observe: fc.boolean() }),
  record({ t: fc.constant('auth'), proof: bytes(32) }),
  record({ t: fc.constant('call'), id, m: fc.string(), a: fc.array(msgpackValue, { maxLength: 4 }) }),
  record({ t: fc.constant('ping'), id }),
  record({ t: fc.constant('shutdown'), id, force: fc.boolean() }),
  record({ t: fc.constant('challenge'), v: fc.nat(3), pkg: fc.string(), nonce: bytes(NONCE_BYTES), proof: bytes(32) }),
  record({
    t: fc.constant('welcome'),
    info: fc.dictionary(
      fc.string({ maxLength: 10 }).filter((key) => key !== '__proto__'),
      msgpackValue,
      { maxKeys: 5, noNullPrototype: true },
    ),
  }),
  record({ t: fc.constant('reply'), id, r: msgpackValue }),
  record({ t: fc.constant('error'), id: fc.option(id, { nil: null }), e: record({ code: fc.string(), name: fc.string(), message: fc.string() }) }),
);

/** A payload large enough for a 3-byte length (over 64 KiB), rarely. */
const bigValue = fc.integer({ min: 65_536, max: 300_000 }).map((n) => ({ t: 'reply', id: 1, r: Buffer.alloc(n, n & 0xff) }));

const message = fc.oneof({ arbitrary: msgpackValue, weight: 4 }, { arbitrary: protocolMessage, weight: 4 }, { arbitrary: bigValue, weight: 1 });

/** How to cut the stream: positions are reduced modulo (length + 1) once the stream exists. */
type Chunking = { readonly kind: 'cuts'; readonly cuts: readonly number[] } | { readonly kind: 'fixed'; readonly size: number } | { readonly kind: 'whole' };

const chunking: fc.Arbitrary<Chunking> = fc.oneof(
  { arbitrary: record({ kind: fc.constant('cuts' as const), cuts: fc.array(fc.nat(), { maxLength: 40 }) }), weight: 6 },
  { arbitrary: record({ kind: fc.constant('fixed' as const), size: fc.integer({ min: 1, max: 9 }) }), weight: 2 },
  { arbitrary: fc.constant({ kind: 'whole' as const }), weight: 1 },
);

/** Chunk boundaries for a stream of `length` bytes: sorted, may repeat (empty chunks). */
function boundaries(length: number, how: Chunking): number[] {
  switch (how.kind) {
    case 'whole':
      return [0, length];
    case 'fixed': {
      const out = [0];
      for (let at = how.size; at < length; at += how.size) out.push(at);
      out.push(length);
      return out;
    }
    case 'cuts':
      return [0, ...how.cuts.map((cut) => cut % (length + 1)).sort((a, b) => a - b), length];
  }
}

/**
 * What a parser makes of a value: accepted, or the error it throws (its class, code and
 * message; that only ProtocolError is ever thrown is decoder-errors.test.ts's property).
 */
function parseOutcome(parse: (value: unknown) => unknown, value: unknown): unknown {
  try {
    parse(value);
    return { ok: true };
  } catch (error) {
    return { error: (error as Error)?.constructor?.name, code: (error as ProtocolError).code, message: (error as Error)?.message };
  }
}

describe('property: any chunking of a valid frame stream', () => {
  it(
    'decodes to the same messages, with hasPartialFrame true exactly between frame boundaries',
    () => {
      fc.assert(
        fc.property(
          fc.array(message, { minLength: 1, maxLength: 8 }),
          chunking,
          fc.oneof(fc.constant(0), fc.nat(1000), fc.constant(DEFAULT_MAX_FRAME_BYTES)),
          (messages, how, slack) => {
            // Encode every frame before decoding any (a reused encode buffer would show here).
            const frames = messages.map((m) => encodeFrame(m, DEFAULT_MAX_FRAME_BYTES));
            const stream = Buffer.concat(frames);
            const frameEnds: number[] = [];
            let end = 0;
            for (const frame of frames) {
              end += frame.length;
              frameEnds.push(end);
            }
            // The tightest cap that admits every frame, or more.
            const largest = Math.max(...frames.map((frame) => frame.length - HEADER_BYTES));
            const decoder = new FrameDecoder(Math.min(largest + slack, DEFAULT_MAX_FRAME_BYTES));

            const payloads: Buffer[] = [];
            const cuts = boundaries(stream.length, how);
            let framesEnded = 0;
            for (let i = 1; i < cuts.length; i++) {
              const [from, to] = [cuts[i - 1]!, cuts[i]!];
              decoder.push(stream.subarray(from, to), (payload) => payloads.push(payload));
              // Every frame that ended within the bytes pushed so far was handed over, no
              // more; a frame is partial exactly when the cut is not on a frame boundary.
              // (Plain checks: a chunking of single bytes makes 300k pushes.)
              while (framesEnded < frameEnds.length && frameEnds[framesEnded]! <= to) framesEnded++;
              const partial = to !== 0 && frameEnds[framesEnded - 1] !== to;
              if (payloads.length !== framesEnded || decoder.hasPartialFrame !== partial) {
                expect({ to, payloads: payloads.length, hasPartialFrame: decoder.hasPartialFrame }).toEqual({ to, payloads: framesEnded, hasPartialFrame: partial });
              }
            }
            expect(decoder.hasPartialFrame).toBe(false);
            // Byte for byte, and still intact after later pushes (no reused assembly buffer).
            // Booleans, not matchers: a failing matcher would pretty-print big buffers on
            // every shrink step.
            for (let k = 0; k < frames.length; k++) {
              expect(payloads[k]!.equals(frames[k]!.subarray(HEADER_BYTES)), `payload ${k} bytes`).toBe(true);
              const decoded = decodeValue(payloads[k]!);
              expect(sameValue(decoded, messages[k]), `message ${k} round-trips`).toBe(true);
              // Transport is transparent to validation: each side's parser judges the decoded
              // message exactly as it judges the original.
              for (const parse of [parseClientMessage, parseDaemonMessage]) {
                const [before, after] = [parseOutcome(parse, messages[k]), parseOutcome(parse, decoded)];
                expect(sameValue(after, before), `${parse.name} of message ${k}: ${JSON.stringify(after)} vs ${JSON.stringify(before)}`).toBe(true);
              }
            }
          },
        ),
        params(300),
      );
    },
    timeout(30_000),
  );
});
