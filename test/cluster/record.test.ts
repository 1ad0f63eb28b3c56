/** A cluster daemon's record (src/registry/record.ts): what reads back as valid, and what is malformed, with the reason. */
import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord, MAX_RECORD_BYTES } from '../../src/registry/record.js';
import { record } from './support.js';

const bytes = (text: string) => Buffer.from(text, 'utf8');

describe('cluster records', () => {
  it('a record encodes to JSON and decodes back as it was', () => {
    const written = record('10.1.2.3', 45_000);
    expect(decodeRecord(bytes(encodeRecord(written)))).toEqual({ status: 'valid', record: written });
  });

  it.each([
    ['not JSON', '{"instanceId":', 'not valid JSON'],
    ['an array', '[]', 'not a JSON object'],
    ['no instance id', JSON.stringify({ ...record(), instanceId: '' }), '`instanceId` is missing'],
    ['a port out of range', JSON.stringify({ ...record(), port: 70_000 }), '`port` is not a TCP port'],
    ['a pid of 0', JSON.stringify({ ...record(), pid: 0 }), '`pid` is not a positive integer'],
    ['no factory id', JSON.stringify({ ...record(), factoryId: undefined }), '`factoryId` is missing'],
    ['a string startedAt', JSON.stringify({ ...record(), startedAt: 'today' }), '`startedAt` is not a number'],
  ])('%s is malformed', (_, text, reason) => {
    expect(decodeRecord(bytes(text))).toEqual({ status: 'malformed', reason });
  });

  it('a value far larger than a record is malformed before it is parsed', () => {
    expect(decodeRecord(new Uint8Array(MAX_RECORD_BYTES + 1))).toEqual({ status: 'malformed', reason: `it is ${MAX_RECORD_BYTES + 1} bytes, over ${MAX_RECORD_BYTES}` });
  });

  it('a record that would not read back is refused when written', () => {
    expect(() => encodeRecord({ ...record(), host: '' })).toThrow('Not a valid cluster record: `host` is missing');
  });
});
