import { execFileSync } from 'node:child_process';
import type * as realFs from 'node:fs';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { backupPathOf, formatAddress, MAX_METADATA_BYTES, readMetadata, readMetadataFile, removeMetadataIf, writeMetadata } from '../../src/runtime/metadata.js';
import { settledMetadata } from '../../src/client/reach.js';
import type { DaemonMetadata } from '../../src/types.js';

// Lets a test make the next open fail with an errno (EMFILE, EACCES, EIO), which a real
// file cannot be made to do reliably (root reads mode 000 files).
const hooks = vi.hoisted(() => ({ openError: undefined as string | undefined }));
vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof realFs>();
  const openSync = ((...args: Parameters<typeof actual.openSync>) => {
    const code = hooks.openError;
    hooks.openError = undefined;
    if (code !== undefined) throw Object.assign(new Error(`${code}: simulated, open '${String(args[0])}'`), { code });
    return actual.openSync(...args);
  }) as typeof actual.openSync;
  return { ...actual, default: { ...actual, openSync }, openSync };
});

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
  hooks.openError = undefined;
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
    ['draining (the record a draining daemon keeps until it exits)', { ...TCP, draining: true as const, drainingSince: 1_700_000_000_000 }],
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
    expect(readdirSync(temp).sort()).toEqual(['metadata.backup.json', 'metadata.json']);
    expect(readMetadata(path)).toEqual({ status: 'valid', metadata: IPC });
    expect(readMetadata(backupPathOf(path))).toEqual({ status: 'valid', metadata: IPC });
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
    ['draining other than true', JSON.stringify({ ...TCP, draining: false })],
    ['a string drainingSince', JSON.stringify({ ...TCP, draining: true, drainingSince: 'now' })],
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

describe('readMetadata: whatever sits at the path, it answers at once', () => {
  const malformed = (reason: string) => ({ status: 'malformed', reason });

  // No writer ever opens the other end: a blocking open would hang here for good (the test's
  // timeout would fail it).
  it.skipIf(process.platform === 'win32')('a FIFO reads as malformed, with no writer on the other end', { timeout: 2000 }, () => {
    execFileSync('mkfifo', [path]);
    expect(readMetadata(path)).toEqual(malformed('not a regular file (FIFO)'));
  });

  it.skipIf(process.platform === 'win32')('a symlink to /dev/zero reads as malformed without reading from it', () => {
    symlinkSync('/dev/zero', path);
    expect(readMetadata(path)).toEqual(malformed('not a regular file (symlink)'));
  });

  it.skipIf(process.platform === 'win32')('a symlink to a valid record is not followed', () => {
    const real = join(temp, 'elsewhere.json');
    writeMetadata(real, TCP);
    symlinkSync(real, path);
    expect(readMetadata(path)).toEqual(malformed('not a regular file (symlink)'));
  });

  it('a valid record padded to 50 MB is refused by its size, before it is read', () => {
    writeFileSync(path, JSON.stringify(TCP).padEnd(50 * 1024 * 1024, ' '), { mode: 0o600 });
    expect(readMetadata(path)).toEqual(malformed(`larger than 16 KiB (${50 * 1024 * 1024} bytes)`));
  });

  it('a record of exactly the cap is read; one byte more is refused', () => {
    const record = `${JSON.stringify(TCP)}\n`;
    writeFileSync(path, record.padEnd(MAX_METADATA_BYTES, ' '), { mode: 0o600 });
    expect(readMetadata(path)).toEqual({ status: 'valid', metadata: TCP });
    writeFileSync(path, record.padEnd(MAX_METADATA_BYTES + 1, ' '), { mode: 0o600 });
    expect(readMetadata(path).status).toBe('malformed');
  });

  it('a directory reads as malformed', () => {
    mkdirSync(path);
    expect(readMetadata(path)).toEqual(malformed('not a regular file (directory)'));
  });

  it('a missing file is absent', () => {
    expect(readMetadata(path)).toEqual({ status: 'absent' });
    expect(readMetadata(join(temp, 'no-such-dir', 'metadata.json'))).toEqual({ status: 'absent' });
  });

  it.each(['EMFILE', 'ENFILE', 'EACCES', 'EIO', 'ENOMEM'])(
    'a read that fails with %s is unreadable with its errno, never malformed, and the file is left as it was',
    (code) => {
      writeMetadata(path, TCP);
      const before = readFileSync(path, 'utf8');
      hooks.openError = code;
      const read = readMetadata(path);
      expect(read.status).toBe('unreadable');
      expect(read.status === 'unreadable' && read.code).toBe(code);
      expect(read.status === 'unreadable' && read.reason).toMatch(new RegExp(`^unreadable: ${code}`));
      expect(readFileSync(path, 'utf8')).toBe(before);
      expect(readMetadata(path)).toEqual({ status: 'valid', metadata: TCP });
    },
  );

  it('settledMetadata (the client, under the lock) fails on an unreadable record with the errno as cause, rather than take it for damaged', async () => {
    writeMetadata(path, TCP);
    hooks.openError = 'EMFILE';
    await expect(settledMetadata(path)).rejects.toMatchObject({ code: 'ERR_LOOPBACK_SINGLETON', cause: { code: 'EMFILE' } });
    expect(readMetadata(path)).toEqual({ status: 'valid', metadata: TCP });
  });

  it('removeMetadataIf deletes nothing it could not read', () => {
    writeMetadata(path, TCP);
    hooks.openError = 'EMFILE';
    expect(removeMetadataIf(path, TCP.instanceId)).toBe(true); // the copy's read failed, metadata.json's did not
    expect(readMetadata(backupPathOf(path))).toEqual({ status: 'valid', metadata: TCP });
  });

  it('readMetadataFile gives the stamp of the file it read, which any rewrite changes', () => {
    writeMetadata(path, TCP);
    const first = readMetadataFile(path);
    expect(first.read.status).toBe('valid');
    expect(readMetadataFile(path).stamp).toBe(first.stamp);
    writeMetadata(path, TCP);
    expect(readMetadataFile(path).stamp).not.toBe(first.stamp);
    expect(readMetadataFile(join(temp, 'absent')).stamp).toBeUndefined();
  });
});

describe('removeMetadataIf', () => {
  it('deletes the record when the instanceId matches', () => {
    writeMetadata(path, TCP);
    expect(removeMetadataIf(path, TCP.instanceId)).toBe(true);
    expect(readMetadata(path)).toEqual({ status: 'absent' });
  });

  it('deletes the copy with the record, and a copy of another daemon only with that daemon', () => {
    writeMetadata(path, TCP);
    expect(removeMetadataIf(path, TCP.instanceId)).toBe(true);
    expect(readMetadata(backupPathOf(path))).toEqual({ status: 'absent' });
    writeMetadata(path, IPC);
    expect(removeMetadataIf(path, TCP.instanceId)).toBe(false);
    expect(readMetadata(backupPathOf(path))).toEqual({ status: 'valid', metadata: IPC });
  });

  it.each([
    ['another daemon', 'inst-9'],
    ['a prefix of the id', 'inst-'],
    ['an empty id', ''],
  ])('leaves the record untouched for %s and returns false', (_label, instanceId) => {
    writeMetadata(path, TCP);
    const before = readFileSync(path);
    expect(removeMetadataIf(path, instanceId)).toBe(false);
    expect(readFileSync(path).equals(before)).toBe(true);
  });

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
