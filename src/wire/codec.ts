/**
 * The frame codec: a 4-byte big-endian unsigned payload length, then a MessagePack payload.
 * This module and its decoder are the only places msgpackr is used.
 */
// `msgpackr/pack` is msgpackr's pure-JS build (the Packr also unpacks). The default entry
// first tries to load the native string extractor (msgpackr-extract): ~20 ms at start-up, on
// every cold start of a client and a daemon, for a speed-up on long strings only.
import { addExtension, Packr, RESERVE_START_SPACE } from 'msgpackr/pack';
import { ProtocolError } from '../errors.js';
import { ERROR_EXTENSION, MAP_EXTENSION, readError, readMap, TaggedError, TaggedMap } from './extensions.js';
import { decodeLifting, LIFTED_STRING_EXTENSION, LONG_STRING_BYTES, takeLifted } from './long-strings.js';
import { screenPayload } from './screen.js';

/** Bytes of the length prefix in front of every payload. */
export const HEADER_BYTES = 4;

/** Default largest frame (header excluded) either side sends or accepts: 16 MiB. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/**
 * The largest frame a daemon accepts before its peer has authenticated. A `hello` is 68
 * bytes with a 5-character `pkg` and an `auth` 45: 512 leaves room for a long pre-release
 * `pkg`, `observe` and a few fields a later version may add, while a connection that has
 * proved nothing (there may be 64 of them, see ../daemon/admission.ts) holds at most
 * 512 bytes of partial frame.
 */
export const HANDSHAKE_REQUEST_MAX_FRAME_BYTES = 512;

/**
 * The largest frame a client accepts before the daemon has proved itself: a challenge is
 * ~100 bytes, but the welcome carries DaemonInfo, with the factory's module path and the
 * daemon's address (under 1 KiB, plus long paths).
 */
export const HANDSHAKE_MAX_FRAME_BYTES = 64 * 1024;

// Standard MessagePack (no msgpackr records), so that a client in another language can
// speak the protocol: maps decode as plain objects. `moreTypes` writes Set, RegExp, typed
// arrays and BigInts past 64 bits as msgpackr's extensions (docs/PROTOCOL.md §2); a function
// is refused rather than written as undefined (./values.ts names its path first).
const packr = new Packr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: true,
  writeFunction: () => {
    throw new TypeError('a function cannot cross the wire');
  },
});

// Map and Error, which msgpackr writes lossily, travel as ./values.ts tags them. The table of
// extensions is msgpackr's own and process-wide: these apply to our private classes only when
// encoding, but decoding types 0x45 and 0x4d is ours for any msgpackr user in the process.
addExtension({ Class: TaggedMap, type: MAP_EXTENSION, write: (map: TaggedMap) => map.entries, read: readMap });
addExtension({ Class: TaggedError, type: ERROR_EXTENSION, write: (error: TaggedError) => error.fields, read: readError });
// Decoding only: the placeholder of a long string that ./long-strings.ts decodes itself.
addExtension({ type: LIFTED_STRING_EXTENSION, unpack: takeLifted });

// msgpackr can leave room in front of the payload it writes; the header goes there, so a
// frame is one buffer and is never copied to be prefixed.
const RESERVE_HEADER = RESERVE_START_SPACE | HEADER_BYTES;

// Decodes maps as JS Maps, whatever their keys: only for a payload the decoder above refused,
// to learn which call it was and where the refused key is (see decodeAnyKeys).
const anyKeys = new Packr({ useRecords: false, mapsAsObjects: false });

/**
 * Encodes one message as a complete frame (header + payload).
 * Arguments and results go through `prepareValue` (./values.ts) first.
 * @throws {ProtocolError} `ERR_FRAME_TOO_LARGE` when the payload exceeds `maxFrameBytes`;
 *   `ERR_UNENCODABLE` when the value cannot be encoded (what `prepareValue` did not see).
 */
export function encodeFrame(message: unknown, maxFrameBytes: number): Buffer {
  let frame: Buffer;
  try {
    frame = packr.pack(message, RESERVE_HEADER);
  } catch (error) {
    throw new ProtocolError(`Cannot encode message: ${(error as Error).message}`, { code: 'ERR_UNENCODABLE', cause: error });
  }
  const payloadBytes = frame.length - HEADER_BYTES;
  if (payloadBytes > maxFrameBytes) {
    throw new ProtocolError(`Frame of ${payloadBytes} bytes exceeds maxFrameBytes (${maxFrameBytes}); send less data per call or raise maxFrameBytes on every client`, {
      code: 'ERR_FRAME_TOO_LARGE',
    });
  }
  frame.writeUInt32BE(payloadBytes, 0);
  return frame;
}

/** Encodes a value on its own (no header), for data carried inside messages. */
export function encodeValue(value: unknown): Buffer {
  try {
    return packr.pack(value);
  } catch (error) {
    throw new ProtocolError(`Cannot encode value: ${(error as Error).message}`, { code: 'ERR_UNENCODABLE', cause: error });
  }
}

/**
 * Decodes one payload; the payload must hold exactly one value, and only the MessagePack
 * docs/PROTOCOL.md §2 lists (no msgpackr references, records or bundled strings: see
 * ./screen.ts). A payload of {@link LONG_STRING_BYTES} or more may be changed while this runs
 * (./long-strings.ts) and is as it was when it returns or throws.
 * @throws {ProtocolError} `ERR_PROTOCOL`.
 */
export function decodeValue(payload: Uint8Array): unknown {
  // A payload shorter than a long string holds none: the usual payload is not looked at twice.
  if (payload.length < LONG_STRING_BYTES) {
    screenPayload(payload);
    return unpack(payload);
  }
  const longStrings: number[] = [];
  screenPayload(payload, longStrings);
  return decodeLifting(payload, longStrings, unpack);
}

/**
 * {@link decodeValue} without the screen, for payloads from a daemon that has proved it holds
 * the token: its encoder never writes what ./screen.ts refuses, so a client does not walk
 * every reply twice. Anything that has not proved itself goes through {@link decodeValue}.
 * @throws {ProtocolError} `ERR_PROTOCOL`.
 */
export function decodeAuthenticated(payload: Uint8Array): unknown {
  if (payload.length < LONG_STRING_BYTES) return unpack(payload);
  // Only a payload that may hold a long string is walked, for the long strings alone: a
  // payload the walk refuses is left to msgpackr as it is, to accept or refuse.
  const longStrings: number[] = [];
  try {
    screenPayload(payload, longStrings);
  } catch {
    return unpack(payload);
  }
  return decodeLifting(payload, longStrings, unpack);
}

function unpack(payload: Uint8Array): unknown {
  // The reserved byte 0xc1 is not a value; msgpackr would hand back a marker object.
  if (payload[0] === 0xc1) throw new ProtocolError('Malformed MessagePack payload: the reserved byte 0xc1');
  let value: unknown;
  try {
    value = packr.unpack(payload);
  } catch (error) {
    throw new ProtocolError(`Malformed MessagePack payload: ${(error as Error).message}`, { cause: error });
  }
  return value;
}

/**
 * Decodes a payload that {@link decodeValue} or {@link decodeAuthenticated} refused, with
 * every map as a JS `Map` whatever its keys. The one thing our decoder refuses in a payload
 * its screen let in and this one decodes is a map key that is not a scalar (msgpackr writes a
 * `Map` keyed by objects without complaint): the receiver uses the result to answer that one
 * message with `ERR_UNENCODABLE` instead of closing the connection. Runs only after a
 * failure. The payload is screened again when `screened` is true (a peer not yet trusted).
 * @throws {ProtocolError} `ERR_PROTOCOL` when the payload is refused for any other reason.
 */
export function decodeAnyKeys(payload: Uint8Array, screened: boolean): unknown {
  if (screened) screenPayload(payload);
  if (payload[0] === 0xc1) throw new ProtocolError('Malformed MessagePack payload: the reserved byte 0xc1');
  try {
    return anyKeys.unpack(payload);
  } catch (error) {
    throw new ProtocolError(`Malformed MessagePack payload: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Splits a byte stream into payloads. The cap is checked on the header, before any of the
 * payload is buffered. A frame that arrives whole inside one chunk is decoded in place;
 * only a frame split across chunks is copied, once, into a buffer of its exact size.
 */
export class FrameDecoder {
  #maxFrameBytes: number;
  /** Header bytes received so far of a header split across chunks. */
  readonly #header = Buffer.allocUnsafe(HEADER_BYTES);
  #headerFill = 0;
  /** The payload being assembled across chunks, or undefined between frames. */
  #partial: Buffer | undefined;
  #partialFill = 0;

  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Raises (or lowers) the cap for the frames whose header has not arrived yet. */
  set maxFrameBytes(bytes: number) {
    this.#maxFrameBytes = bytes;
  }

  /** True while a frame has started but not fully arrived. */
  get hasPartialFrame(): boolean {
    return this.#headerFill > 0 || this.#partial !== undefined;
  }

  /**
   * Feeds a chunk; calls `onPayload` for each complete payload, in order. Decoding the
   * payload is left to the caller so it can handle each message's errors on its own.
   * @throws {ProtocolError} on a header announcing more than `maxFrameBytes`; the decoder
   *   is then unusable and the connection must be closed.
   */
  push(chunk: Buffer, onPayload: (payload: Buffer) => void): void {
    let offset = 0;
    const end = chunk.length;
    while (offset < end) {
      if (this.#partial !== undefined) {
        const take = Math.min(end - offset, this.#partial.length - this.#partialFill);
        chunk.copy(this.#partial, this.#partialFill, offset, offset + take);
        this.#partialFill += take;
        offset += take;
        if (this.#partialFill < this.#partial.length) return;
        const payload = this.#partial;
        this.#partial = undefined;
        onPayload(payload);
        continue;
      }
      let length: number;
      if (this.#headerFill === 0 && end - offset >= HEADER_BYTES) {
        length = chunk.readUInt32BE(offset);
        offset += HEADER_BYTES;
      } else {
        const take = Math.min(end - offset, HEADER_BYTES - this.#headerFill);
        chunk.copy(this.#header, this.#headerFill, offset, offset + take);
        this.#headerFill += take;
        offset += take;
        if (this.#headerFill < HEADER_BYTES) return;
        this.#headerFill = 0;
        length = this.#header.readUInt32BE(0);
      }
      if (length > this.#maxFrameBytes) {
        throw new ProtocolError(`Incoming frame announces ${length} bytes, over maxFrameBytes (${this.#maxFrameBytes})`, { code: 'ERR_FRAME_TOO_LARGE' });
      }
      if (length === 0) throw new ProtocolError('Incoming frame has an empty payload');
      if (end - offset >= length) {
        const payload = chunk.subarray(offset, offset + length);
        offset += length;
        onPayload(payload);
      } else {
        this.#partial = Buffer.allocUnsafe(length);
        this.#partialFill = 0;
      }
    }
  }
}
