/**
 * src/runtime/private-file.ts on what can sit at a runtime file's path: each kind of
 * non-regular file named in words, a file that grows after its size was read, a path that
 * cannot even be looked at, and the private temp file a write leaves no trace of on failure.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { currentStamp, readSmallFile, replacePrivateFile, writePrivateTemp } from '../../src/runtime/private-file.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'lbs-private-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('readSmallFile', () => {
  it('reads a regular file up to its cap, and refuses one over it naming the cap in bytes or KiB', () => {
    writeFileSync(join(dir, 'f'), 'x'.repeat(10));
    const read = readSmallFile(join(dir, 'f'), 10);
    expect(read.status === 'read' && read.bytes.toString()).toBe('x'.repeat(10));
    expect(readSmallFile(join(dir, 'f'), 9)).toEqual({ status: 'tooLarge', reason: 'larger than 9 bytes (10 bytes)' });
    writeFileSync(join(dir, 'big'), 'x'.repeat(2049));
    expect(readSmallFile(join(dir, 'big'), 2048)).toEqual({ status: 'tooLarge', reason: 'larger than 2 KiB (2049 bytes)' });
    expect(readSmallFile(join(dir, 'missing'), 10)).toEqual({ status: 'absent' });
  });

  it('names what is not a regular file: a symlink, a directory, a socket, a FIFO, a character device', async () => {
    writeFileSync(join(dir, 'target'), 'x');
    symlinkSync(join(dir, 'target'), join(dir, 'link'));
    mkdirSync(join(dir, 'sub'));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(dir, 's.sock'), resolve));
    try {
      expect(readSmallFile(join(dir, 'link'), 10)).toEqual({ status: 'notRegular', reason: 'not a regular file (symlink)' });
      expect(readSmallFile(join(dir, 'sub'), 10)).toEqual({ status: 'notRegular', reason: 'not a regular file (directory)' });
      expect(readSmallFile(join(dir, 's.sock'), 10)).toEqual({ status: 'notRegular', reason: 'not a regular file (socket)' });
      expect(readSmallFile(join(dir, 'fifo'), 10)).toEqual({ status: 'notRegular', reason: 'not a regular file (FIFO)' });
      expect(readSmallFile('/dev/null', 10)).toEqual({ status: 'notRegular', reason: 'not a regular file (character device)' });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it.runIf(process.platform === 'linux')('a file larger than its size said (it grew after the fstat): too large, without a size', () => {
    // /proc files report size 0 and hold more.
    expect(statSync('/proc/self/status').size).toBe(0);
    expect(readSmallFile('/proc/self/status', 16)).toEqual({ status: 'tooLarge', reason: 'larger than 16 bytes' });
    const whole = readSmallFile('/proc/self/status', 64 * 1024);
    expect(whole.status === 'read' && whole.bytes.toString('utf8')).toMatch(/^Name:/);
  });

  it('a path that cannot be opened for another reason is unreadable, with its error', () => {
    const read = readSmallFile(join(dir, 'x'.repeat(300)), 10);
    expect(read.status).toBe('unreadable');
    expect(read.status === 'unreadable' && read.error.code).toBe('ENAMETOOLONG');
  });
});

describe('currentStamp', () => {
  it('changes with the file, is undefined for nothing there and for a path that cannot be looked at', () => {
    const path = join(dir, 'f');
    expect(currentStamp(path)).toBeUndefined();
    writeFileSync(path, 'a');
    const first = currentStamp(path);
    expect(first).toMatch(/^\d+:\d+:\d+:\d+:1:\d+:\d+$/);
    expect(currentStamp(path)).toBe(first);
    writeFileSync(path, 'bb');
    expect(currentStamp(path)).not.toBe(first);
    expect(currentStamp(join(dir, 'x'.repeat(300)))).toBeUndefined();
    expect(currentStamp(join(path, 'below-a-file'))).toBeUndefined();
  });
});

describe('private writes', () => {
  it('a temp file beside the path, mode 0600, with the whole content; replaced atomically', () => {
    const path = join(dir, 'record.json');
    const temp = writePrivateTemp(path, 'héllo');
    expect(temp).toMatch(new RegExp(`^${path.replace(/[.]/g, '\\.')}\\.${process.pid}\\.[0-9a-f]{12}\\.tmp$`));
    expect(statSync(temp).mode & 0o777).toBe(0o600);
    expect(readSmallFile(temp, 100)).toMatchObject({ status: 'read', bytes: Buffer.from('héllo') });
    replacePrivateFile(path, new Uint8Array([1, 2, 3]));
    expect(readSmallFile(path, 100)).toMatchObject({ status: 'read', bytes: Buffer.from([1, 2, 3]) });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).sort()).toEqual([temp.slice(dir.length + 1), 'record.json'].sort());
  });

  it('a replacement that cannot be renamed into place leaves no temp file', () => {
    const path = join(dir, 'occupied');
    mkdirSync(path);
    writeFileSync(join(path, 'inside'), 'x');
    expect(() => replacePrivateFile(path, 'content')).toThrow();
    expect(readdirSync(dir)).toEqual(['occupied']);
    expect(existsSync(join(path, 'inside'))).toBe(true);
  });
});
