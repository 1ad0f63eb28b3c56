/**
 * What the decoder lets in from the wire. A payload is walked once, byte by byte, before
 * msgpackr decodes it, and refused unless every extension in it is one docs/PROTOCOL.md §2
 * lists: 0 (undefined), -1 (timestamp), 0x42 (BigInt), 0x45 (Error), 0x4d (Map), 0x65
 * (msgpackr's Error), 0x73 (Set), 0x74 (typed array) and 0x78 (RegExp).
 *
 * Why a walk and not an Unpackr option: msgpackr decodes more than standard MessagePack, and
 * no option turns the rest off. Its structured-clone references (0x69 id, 0x70 pointer) let a
 * 430-byte payload decode to a DAG that becomes gigabytes when a method returns it and the
 * reply is encoded as a tree; its records (0x72 definitions, then 0x40-0x7f references)
 * and bundled strings (0x62) are read before the extension table is consulted; and that table
 * is module-global, so any extension code sharing the module registers is honoured too. The
 * walk allocates nothing and skips strings, bins and extension data without reading them.
 *
 * The same walk tells the codec where the long strings are (./long-strings.ts), so that it
 * does not walk a payload twice to find them.
 */
import { ProtocolError } from '../errors.js';
import { LONG_STRING_BYTES } from './long-strings.js';

/**
 * Extension types accepted from the wire, and how many MessagePack values follow the
 * extension's own data (our Map and Error, msgpackr's Error, Set and RegExp read theirs from
 * the next value).
 * Refused, among others: 0x62 bundled strings (our encoder never writes them, so nothing is
 * lost, and they make 0xc1 mean something else), 0x69/0x70 structured-clone references, 0x72
 * records.
 */
const FOLLOWING_VALUES: ReadonlyMap<number, number> = new Map([
  [0x00, 0], // undefined
  [0xff, 0], // timestamp (-1)
  [0x42, 0], // BigInt
  [0x74, 0], // typed array, ArrayBuffer, DataView
  [0x45, 1], // Error (ours, ./values.ts): a map of its fields
  [0x4d, 1], // Map (ours, ./values.ts): an array of [key, value] pairs
  [0x65, 1], // Error: [name, message, cause, errors?]
  [0x73, 1], // Set: its values as an array
  [0x78, 1], // RegExp: [source, flags]
]);

/**
 * Throws unless `payload` is exactly one MessagePack value whose extensions are all allowed.
 * Malformed input that msgpackr would refuse anyway is refused here as well.
 * @param longStrings when given, receives the offset of every `str32` token of at least
 *   {@link LONG_STRING_BYTES} bytes, in order (what ./long-strings.ts decodes itself).
 * @throws {ProtocolError} `ERR_PROTOCOL`.
 */
export function screenPayload(payload: Uint8Array, longStrings?: number[]): void {
  const end = payload.length;
  let at = 0;
  // Values still to be read: msgpack is prefix-encoded, so no stack is needed.
  let pending = 1;
  while (pending > 0) {
    if (at >= end) throw malformed('unexpected end of data');
    const token = payload[at++]!;
    pending--;
    // positive fixint; 0x40-0x7f are msgpackr record references only after a 0x72 definition
    if (token < 0x80) continue;
    if (token < 0xa0) {
      pending += token < 0x90 ? (token & 0x0f) * 2 : token & 0x0f; // fixmap, fixarray
    } else if (token < 0xc0) {
      at += token & 0x1f; // fixstr
      continue;
    } else if (token >= 0xe0) {
      continue; // negative fixint
    } else {
      switch (token) {
        case 0xc0: // nil
        case 0xc1: // reserved: msgpackr's marker object (PROTOCOL.md §2)
        case 0xc2: // false
        case 0xc3: // true
          continue;
        case 0xc4: // bin8, str8
        case 0xd9:
          at += 1 + uint8(payload, at);
          continue;
        case 0xc5: // bin16, str16
        case 0xda:
          at += 2 + uint16(payload, at);
          continue;
        case 0xc6: // bin32
          at += 4 + uint32(payload, at);
          continue;
        case 0xdb: {
          // str32
          const length = uint32(payload, at);
          if (longStrings !== undefined && length >= LONG_STRING_BYTES) longStrings.push(at - 1);
          at += 4 + length;
          continue;
        }
        case 0xc7: // ext8, ext16, ext32: length, type, data
          pending += extension(payload[at + 1], at - 1);
          at += 2 + uint8(payload, at);
          continue;
        case 0xc8:
          pending += extension(payload[at + 2], at - 1);
          at += 3 + uint16(payload, at);
          continue;
        case 0xc9:
          pending += extension(payload[at + 4], at - 1);
          at += 5 + uint32(payload, at);
          continue;
        case 0xd4: // fixext 1, 2, 4, 8, 16: type, data
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
          pending += extension(payload[at], at - 1);
          at += 1 + (1 << (token - 0xd4));
          continue;
        case 0xca: // float32
          at += 4;
          continue;
        case 0xcb: // float64
          at += 8;
          continue;
        case 0xcc: // uint8, int8
        case 0xd0:
          at += 1;
          continue;
        case 0xcd: // uint16, int16
        case 0xd1:
          at += 2;
          continue;
        case 0xce: // uint32, int32
        case 0xd2:
          at += 4;
          continue;
        case 0xcf: // uint64, int64
        case 0xd3:
          at += 8;
          continue;
        case 0xdc: // array16
          pending += uint16(payload, at);
          at += 2;
          break;
        case 0xdd: // array32
          pending += uint32(payload, at);
          at += 4;
          break;
        case 0xde: // map16
          pending += uint16(payload, at) * 2;
          at += 2;
          break;
        case 0xdf: // map32
          pending += uint32(payload, at) * 2;
          at += 4;
          break;
      }
    }
    // Every value takes at least one byte: a container announcing more cannot be complete.
    if (pending > end - at) throw malformed('unexpected end of data');
  }
  if (at > end) throw malformed('unexpected end of data');
  if (at < end) throw malformed(`${end - at} trailing bytes after the value`);
}

/** How many values follow an extension of `type`; throws for a type not accepted. */
function extension(type: number | undefined, at: number): number {
  if (type === undefined) throw malformed('unexpected end of data');
  const following = FOLLOWING_VALUES.get(type);
  if (following === undefined) {
    throw malformed(`extension type ${type > 127 ? type - 256 : type} (at byte ${at}) is not accepted from the wire`);
  }
  return following;
}

function malformed(reason: string): ProtocolError {
  return new ProtocolError(`Malformed MessagePack payload: ${reason}`);
}

// Bytes past the end read as 0; the end checks above then refuse the payload.
function uint8(p: Uint8Array, at: number): number {
  return p[at] ?? 0;
}

function uint16(p: Uint8Array, at: number): number {
  return ((p[at] ?? 0) << 8) | (p[at + 1] ?? 0);
}

function uint32(p: Uint8Array, at: number): number {
  return (((p[at] ?? 0) << 24) | ((p[at + 1] ?? 0) << 16) | ((p[at + 2] ?? 0) << 8) | (p[at + 3] ?? 0)) >>> 0;
}
