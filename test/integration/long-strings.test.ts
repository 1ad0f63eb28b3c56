/**
 * Long strings (src/wire/long-strings.ts: from 1,031,913 bytes, an ASCII string is decoded by
 * the codec, not by msgpackr) cross a real daemon both ways, over TCP and a Unix socket: the
 * daemon decodes them after its screen, the client without one, and both send them back as
 * they came, next to non-ASCII long strings, which msgpackr still decodes.
 */
import { describe, expect, it } from 'vitest';
import { LONG_STRING_BYTES } from '../../dist/src/wire/long-strings.js';
import { startDaemon } from '../support/daemon.js';

const TRANSPORTS = ['tcp', 'ipc'] as const;

describe('long strings through a daemon', () => {
  for (const transport of TRANSPORTS) {
    it(`${transport}: an echo returns ASCII and non-ASCII long strings, at and around the threshold, unchanged`, async () => {
      const daemon = await startDaemon({ transport });
      const connection = await daemon.connect();
      const values = [
        'a'.repeat(LONG_STRING_BYTES - 1),
        'b'.repeat(LONG_STRING_BYTES),
        `${'c'.repeat(LONG_STRING_BYTES)}~`,
        `${'d'.repeat(LONG_STRING_BYTES)}é`,
        { key: 'e'.repeat(LONG_STRING_BYTES + 7), list: ['short', 'f'.repeat(LONG_STRING_BYTES + 1)] },
      ];
      for (const value of values) expect(await connection.call('echo', [value])).toEqual(value);
      // The calls around them are unaffected.
      expect(await connection.call('echo', ['after'])).toBe('after');
    });
  }
});
