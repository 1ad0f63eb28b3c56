// A client process whose own code loads msgpackr's full entry, which installs the native
// string extractor (msgpackr-extract) for every msgpackr user in the process, the codec
// included: the extractor walks ahead over the codec's placeholders (./long-strings.test.ts
// runs the same decodes with msgpackr's pure-JS reader).
import { isNativeAccelerationEnabled, Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeAuthenticated, decodeValue, encodeFrame, HEADER_BYTES } from '../../src/wire/codec.js';
import { LONG_STRING_BYTES } from '../../src/wire/long-strings.js';

const reference = new Packr({ useRecords: false, mapsAsObjects: true, moreTypes: true });

describe('long strings, with msgpackr native string extractor loaded in the process', () => {
  it('decode as msgpackr does, among short strings the extractor reads in bulk', () => {
    expect(isNativeAccelerationEnabled).toBe(true);
    const long = 'q'.repeat(LONG_STRING_BYTES);
    const message = {
      t: 'call',
      id: 3,
      m: 'echo',
      a: ['short', long, { k: 'v', [long]: ['é', long, `${long}ß`, 'tail'] }, 'after', Array.from({ length: 300 }, (_, i) => `s${i}`)],
    };
    for (const decode of [decodeValue, decodeAuthenticated]) {
      const payload = encodeFrame(message, 64 * 1024 * 1024).subarray(HEADER_BYTES);
      const before = Buffer.from(payload);
      expect(decode(payload)).toEqual(reference.unpack(before));
      expect(decode(payload)).toEqual(message);
      expect(payload.equals(before)).toBe(true);
    }
  });
});
