/**
 * Long ASCII strings, decoded by the codec instead of msgpackr. msgpackr reads every string of
 * more than 64 bytes with a `TextDecoder`, which makes a string on the V8 heap: ~0.9 ms per MiB,
 * and a string of a megabyte or more lands in the old generation, whose collections follow.
 * Node makes a Latin-1 decode of {@link LONG_STRING_BYTES} bytes or more an external string
 * (outside the V8 heap) in ~0.3 ms per MiB; for ASCII bytes it is byte-identical to what the
 * `TextDecoder` returns (ASCII has no byte-order mark to strip), and `buffer.isAscii` tells which
 * strings are ASCII in ~20 us per MiB. Below that size the two cost the same (both copy to
 * the heap), so shorter strings are left to msgpackr.
 *
 * msgpackr has no per-decoder hook for strings: `setExtractor`, which its native add-on uses,
 * is not exported, and it would change every msgpackr user in the process. So the codec lifts
 * such strings out: each long ASCII `str32` token (./screen.ts finds them in the walk it makes
 * anyway) is decoded here, and its 5-byte header and first data byte are rewritten, in place
 * and only while msgpackr decodes, into an `ext32` header of type
 * {@link LIFTED_STRING_EXTENSION} whose data is the rest of the string. msgpackr meets the
 * placeholders in the order of the bytes and asks {@link takeLifted} for each: the string goes
 * where it was, and the six bytes are put back afterwards. A non-ASCII string stays for
 * msgpackr. The type is never accepted from the wire (the screen refuses it), and nothing
 * is encoded with it.
 */
import { isAscii } from 'node:buffer';

/**
 * Strings of this many UTF-8 bytes or more are decoded here when they are ASCII: from 1,031,913
 * bytes (`EXTERN_APEX` in Node's src/string_bytes.cc), Node makes a Latin-1 string external.
 */
export const LONG_STRING_BYTES = 0xfbee9;

/** The extension type a lifted string's token becomes while msgpackr decodes ('S'). */
export const LIFTED_STRING_EXTENSION = 0x53;

/** `str32`: the token byte and a 4-byte length, then the UTF-8 bytes. */
const STR32 = 0xdb;
const STR32_HEADER_BYTES = 5;
/** `ext32`: the token byte, a 4-byte length, the type byte, then the data: one byte more. */
const EXT32 = 0xc9;

const NONE: readonly string[] = [];
/** The strings of the decode in progress, in the order msgpackr meets their placeholders. */
let lifted: readonly string[] = NONE;
/** How many of {@link lifted} msgpackr has taken. */
let taken = 0;

/**
 * msgpackr's reader for {@link LIFTED_STRING_EXTENSION} (./codec.ts registers it): the next
 * lifted string. Outside a lifting decode there is none, and the type is refused.
 * @throws {Error} when no lifted string is waiting (the decoder reports it as `ERR_PROTOCOL`).
 */
export function takeLifted(): string {
  if (taken >= lifted.length) throw new Error(`extension type ${LIFTED_STRING_EXTENSION} is not accepted from the wire`);
  return lifted[taken++]!;
}

/**
 * Runs `decode(payload)` with the long ASCII strings whose `str32` tokens start at `offsets`
 * (ascending, as ./screen.ts reports them) decoded here. `payload` is changed while `decode`
 * runs and restored before this returns or throws. A token that is not a complete `str32` is
 * left alone. When that decode fails, or did not take every lifted string, `decode` runs again
 * on the restored bytes, and its result or error is the answer.
 */
export function decodeLifting<T>(payload: Uint8Array, offsets: readonly number[], decode: (payload: Uint8Array) => T): T {
  // Re-entered from inside a lifting decode (no extension of ours does that): plain decode.
  if (offsets.length === 0 || lifted !== NONE) return decode(payload);
  const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const strings: string[] = [];
  // Per lifted string: its token's offset, its length, its first data byte (what is put back).
  const rewritten: number[] = [];
  for (const at of offsets) {
    if (bytes[at] !== STR32 || at + STR32_HEADER_BYTES > bytes.length) continue;
    const length = bytes.readUInt32BE(at + 1);
    const start = at + STR32_HEADER_BYTES;
    const end = start + length;
    if (length === 0 || end > bytes.length || !isAscii(bytes.subarray(start, end))) continue;
    strings.push(bytes.toString('latin1', start, end));
    rewritten.push(at, length, bytes[start]!);
  }
  if (strings.length === 0) return decode(payload);
  for (let i = 0; i < rewritten.length; i += 3) {
    const at = rewritten[i]!;
    bytes[at] = EXT32;
    bytes.writeUInt32BE(rewritten[i + 1]! - 1, at + 1);
    bytes[at + STR32_HEADER_BYTES] = LIFTED_STRING_EXTENSION;
  }
  lifted = strings;
  taken = 0;
  let value: T | undefined;
  let complete = false;
  try {
    value = decode(payload);
    complete = taken === strings.length;
  } catch {
    // Decided below on the restored bytes: a payload that is malformed fails there again, with
    // the error msgpackr gives it; a foreign reader of the type (see below) may have thrown.
  } finally {
    lifted = NONE;
    taken = 0;
    for (let i = 0; i < rewritten.length; i += 3) {
      const at = rewritten[i]!;
      bytes[at] = STR32;
      bytes.writeUInt32BE(rewritten[i + 1]!, at + 1);
      bytes[at + STR32_HEADER_BYTES] = rewritten[i + 2]!;
    }
  }
  // msgpackr's table of extensions is process-wide: if code in this process registered the
  // same type since, its reader met the placeholders. Decode the restored bytes as msgpackr would.
  return complete ? (value as T) : decode(payload);
}
