// The baseline's wire, written here and not taken from the library: a 4-byte big-endian
// length, then a MessagePack payload, with the library's codec settings. No validation beyond
// what a trusted local echo needs: this is the floor the library is compared against.
import { Packr, RESERVE_START_SPACE } from 'msgpackr';

const HEADER_BYTES = 4;
const EMPTY = Buffer.alloc(0);
const packr = new Packr({ useRecords: false, mapsAsObjects: true });

/** One message as one buffer, header included: msgpackr leaves room for the header in front. */
export function encodeFrame(message) {
  const frame = packr.pack(message, RESERVE_START_SPACE | HEADER_BYTES);
  frame.writeUInt32BE(frame.length - HEADER_BYTES, 0);
  return frame;
}

/** Decodes one payload. */
export function decodePayload(payload) {
  return packr.unpack(payload);
}

/**
 * Splits a byte stream into payloads: several frames in one chunk are handed out in place, and
 * a frame split across chunks is kept until the rest arrives (joined with the next chunk; the
 * bench's frames are tens of bytes, so the copy is negligible).
 */
export class FrameReader {
  #buffered = EMPTY;
  #onPayload;

  constructor(onPayload) {
    this.#onPayload = onPayload;
  }

  push(chunk) {
    const data = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    let offset = 0;
    while (data.length - offset >= HEADER_BYTES) {
      const end = offset + HEADER_BYTES + data.readUInt32BE(offset);
      if (end > data.length) break;
      this.#onPayload(data.subarray(offset + HEADER_BYTES, end));
      offset = end;
    }
    this.#buffered = offset === data.length ? EMPTY : data.subarray(offset);
  }
}
