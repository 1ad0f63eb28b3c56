/**
 * daemon.log while a daemon runs (src/daemon/log.ts): past its limit the content moves to
 * daemon.log.1 and the file is emptied in place, so that what else appends to it (the
 * daemon's stdout and stderr) goes on at its new end.
 */
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonLog } from '../../src/daemon/log.js';

const dirs: string[] = [];
const fds: number[] = [];
afterEach(() => {
  for (const fd of fds.splice(0)) closeSync(fd);
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A log of at most `maxBytes` in a fresh dir, and a second descriptor appending to the same file (stdout). */
function logWithStdout(maxBytes: number): { path: string; log: DaemonLog; stdout: number } {
  const dir = mkdtempSync(join(tmpdir(), 'lsg-log-'));
  dirs.push(dir);
  const path = join(dir, 'daemon.log');
  const stdout = openSync(path, 'a', 0o600);
  fds.push(stdout);
  const log = new DaemonLog(path, maxBytes);
  return { path, log, stdout };
}

describe('DaemonLog.rotateIfLarge', () => {
  it('leaves a file within its limit alone', () => {
    const { path, log } = logWithStdout(10_000);
    log.write('one line');
    expect(log.rotateIfLarge()).toBe(false);
    expect(existsSync(`${path}.1`)).toBe(false);
    expect(readFileSync(path, 'utf8')).toContain('one line');
    log.close();
  });

  it('moves a file past its limit to daemon.log.1 and empties it in place; stdout goes on at the new end', () => {
    const { path, log, stdout } = logWithStdout(1000);
    log.write('before rotation');
    writeSync(stdout, `${'x'.repeat(2000)}\n`);
    expect(log.rotateIfLarge()).toBe(true);

    const old = readFileSync(`${path}.1`, 'utf8');
    expect(old).toContain('before rotation');
    expect(old).toContain('x'.repeat(2000));

    writeSync(stdout, 'printed after\n');
    log.write('logged after');
    const now = readFileSync(path, 'utf8');
    // No hole of zero bytes where the old content was: both writers appended from the start.
    expect(now.startsWith('20')).toBe(true);
    expect(now).not.toContain('\0');
    expect(now).toContain('earlier lines are in daemon.log.1');
    expect(now).toContain('printed after\n');
    expect(now).toContain('logged after');
    expect(statSync(path).size).toBeLessThan(1000);
    expect(log.rotateIfLarge()).toBe(false);
    log.close();
  });

  it('does not touch a daemon.log that is no longer its file (a newer daemon rotated it away at spawn)', () => {
    const { path, log, stdout } = logWithStdout(100);
    writeSync(stdout, `${'y'.repeat(500)}\n`);
    renameSync(path, `${path}.1`);
    const newer = openSync(path, 'a', 0o600);
    fds.push(newer);
    writeSync(newer, `${'z'.repeat(500)}\n`);
    expect(log.rotateIfLarge()).toBe(false);
    expect(readFileSync(`${path}.1`, 'utf8')).toBe(`${'y'.repeat(500)}\n`);
    expect(readFileSync(path, 'utf8')).toBe(`${'z'.repeat(500)}\n`);
    log.close();
  });
});
