import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatAddress, readMetadata, removeMetadataIf, writeMetadata } from '../../src/runtime/metadata.js';
import type { DaemonMetadata } from '../../src/types.js';

const TCP: DaemonMetadata = {
  pid: 4242,
  instanceId: 'inst-1',
  transport: 'tcp',
  host: '127.0.0.1',
  port: 45678,
  protocolVersion: 1,
  packageVersion: '0.1.0',
  factoryId: 'file:///srv/services.js#Counter:[]',
  startedAt: 1_700_000_000_000,
};

const IPC: DaemonMetadata = {
  pid: 4243,
  instanceId: 'inst-2',
  transport: 'ipc',
  path: '/tmp/lbs/my-counter/daemon.sock',
  protocolVersion: 1,
  packageVersion: '0.1.0',
  factoryId: 'f',
  startedAt: 1_700_000_000_001,
};

let temp: string;
let path: string;

beforeEach(() => {
  temp = mkdtempSync(join(tmpdir(), 'lbs-meta-'));
  path = join(temp, 'metadata.json');
});

afterEach(() => {
  rmSync(temp, { recursive: true, force: true });
});

function without(key: string): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...TCP };
  delete copy[key];
  return copy;
}

describe('writeMetadata / readMetadata', () => {
  it.each([
    ['tcp', TCP],
    ['ipc', IPC],
  ])('round-trips %s metadata', (_label, metadata) => {
    writeMetadata(path, metadata);
    expect(readMetadata(path)).toEqual({ status: 'valid', metadata });
  });

  it('writes the file with mode 0600 as plain JSON', () => {
    writeMetadata(path, TCP);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual(TCP);
  });

  it('leaves no temp file behind, also when replacing a record', () => {
    writeMetadata(path, TCP);
    writeMetadata(path, IPC);
    expect(readdirSync(temp)).toEqual(['metadata.json']);
    expect(readMetadata(path)).toEqual({ status: 'valid', metadata: IPC });
  });

  it('replaces a foreign 0644 file with a private one', () => {
    writeFileSync(path, 'garbage');
    chmodSync(path, 0o644);
    writeMetadata(path, TCP);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readMetadata(path)).toEqual({ status: 'valid', metadata: TCP });
  });

  it('throws and cleans its temp file when the rename fails', () => {
    mkdirSync(path); // a directory where the file should go
    writeFileSync(join(path, 'occupant'), 'x');
    expect(() => writeMetadata(path, TCP)).toThrow();
    expect(readdirSync(temp)).toEqual(['metadata.json']);
    expect(statSync(path).isDirectory()).toBe(true);
  });

  it('reads an absent file as absent', () => {
    expect(readMetadata(path)).toEqual({ status: 'absent' });
  });

  it('reads an unreadable path (a directory) as malformed', () => {
    mkdirSync(path);
    const read = readMetadata(path);
    expect(read.status).toBe('malformed');
  });

  const cases: Array<[string, string]> = [
    ['an empty file', ''],
    ['truncated JSON', JSON.stringify(TCP).slice(0, 40)],
    ['a lone brace', '{'],
    ['null', 'null'],
    ['a number', '42'],
    ['a string', '"metadata"'],
    ['an array', JSON.stringify([TCP])],
    ['an unknown transport', JSON.stringify({ ...TCP, transport: 'udp' })],
    ['no transport', JSON.stringify(without('transport'))],
    ['a tcp host other than 127.0.0.1', JSON.stringify({ ...TCP, host: '0.0.0.0' })],
    ['a tcp host named localhost', JSON.stringify({ ...TCP, host: 'localhost' })],
    ['no tcp host', JSON.stringify(without('host'))],
    ['port 0', JSON.stringify({ ...TCP, port: 0 })],
    ['port 65536', JSON.stringify({ ...TCP, port: 65536 })],
    ['a negative port', JSON.stringify({ ...TCP, port: -1 })],
    ['a fractional port', JSON.stringify({ ...TCP, port: 80.5 })],
    ['a string port', JSON.stringify({ ...TCP, port: '8080' })],
    ['no port', JSON.stringify(without('port'))],
    ['an ipc record without path', JSON.stringify({ ...IPC, path: undefined })],
    ['an ipc record with an empty path', JSON.stringify({ ...IPC, path: '' })],
    ['pid 0', JSON.stringify({ ...TCP, pid: 0 })],
    ['a negative pid', JSON.stringify({ ...TCP, pid: -5 })],
    ['a string pid', JSON.stringify({ ...TCP, pid: '4242' })],
    ['no pid', JSON.stringify(without('pid'))],
    ['no instanceId', JSON.stringify(without('instanceId'))],
    ['an empty instanceId', JSON.stringify({ ...TCP, instanceId: '' })],
    ['a numeric instanceId', JSON.stringify({ ...TCP, instanceId: 7 })],
    ['no protocolVersion', JSON.stringify(without('protocolVersion'))],
    ['a string protocolVersion', JSON.stringify({ ...TCP, protocolVersion: '1' })],
    ['no packageVersion', JSON.stringify(without('packageVersion'))],
    ['no factoryId', JSON.stringify(without('factoryId'))],
    ['no startedAt', JSON.stringify(without('startedAt'))],
    ['a string startedAt', JSON.stringify({ ...TCP, startedAt: 'yesterday' })],
  ];

  it.each(cases)('reads %s as malformed with a reason', (_label, content) => {
    writeFileSync(path, content, { mode: 0o600 });
    const read = readMetadata(path);
    expect(read.status).toBe('malformed');
    const reason = (read as { reason?: unknown }).reason;
    expect(typeof reason).toBe('string');
    expect((reason as string).length).toBeGreaterThan(0);
  });
});

describe('removeMetadataIf', () => {
  it('deletes the record when the instanceId matches', () => {
    writeMetadata(path, TCP);
    expect(removeMetadataIf(path, TCP.instanceId)).toBe(true);
    expect(readMetadata(path)).toEqual({ status: 'absent' });
  });

  it.each([['another daemon', 'inst-9'], ['a prefix of the id', 'inst-'], ['an empty id', '']])(
    'leaves the record untouched for %s and returns false',
    (_label, instanceId) => {
      writeMetadata(path, TCP);
      const before = readFileSync(path);
      expect(removeMetadataIf(path, instanceId)).toBe(false);
      expect(readFileSync(path).equals(before)).toBe(true);
    },
  );

  it('returns false when there is no record', () => {
    expect(removeMetadataIf(path, TCP.instanceId)).toBe(false);
  });

  it('returns false and leaves a malformed record alone', () => {
    writeFileSync(path, '{"instanceId":"inst-1"', { mode: 0o600 });
    expect(removeMetadataIf(path, 'inst-1')).toBe(false);
    expect(readFileSync(path, 'utf8')).toBe('{"instanceId":"inst-1"');
  });
});

describe('formatAddress', () => {
  it('gives host:port for tcp and the path for ipc', () => {
    expect(formatAddress(TCP)).toBe('127.0.0.1:45678');
    expect(formatAddress(IPC)).toBe('/tmp/lbs/my-counter/daemon.sock');
  });
});
