/**
 * src/client/daemon-process.ts spawns for real: the entry it names is src/daemon/main.js, which
 * does not exist beside the TypeScript sources, so the child (process.execPath) fails at once
 * with Node's own error, which shows where its output goes. Its command line is what it was
 * given. (The built entry starting a real daemon is test/integration/.)
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inheritedExecArgv, spawnDaemonProcess } from '../../src/client/daemon-process.js';
import { DAEMON_LOG_MAX_BYTES, runtimePaths } from '../../src/runtime/paths.js';
import type { RuntimePaths } from '../../src/types.js';
import { makeRoot, removeRoot } from '../support/in-process.js';

const ENTRY = fileURLToPath(new URL('../../src/daemon/main.js', import.meta.url));

let root: string;
let paths: RuntimePaths;
beforeEach(() => {
  root = makeRoot('lbs-spawn-');
  paths = runtimePaths(root, 'svc');
  mkdirSync(paths.dir, { mode: 0o700 });
});
afterEach(() => {
  removeRoot(root);
});

function exited(child: ReturnType<typeof spawnDaemonProcess>): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

describe('spawnDaemonProcess', () => {
  it('runs process.execPath with the given flags, the entry, the runtime root and the wait; output goes to daemon.log', async () => {
    const previous = process.env.LOOPBACK_SINGLETON_DAEMON_ARGS;
    process.env.LOOPBACK_SINGLETON_DAEMON_ARGS = ' --stack-size=900  --no-deprecation ';
    let child: ReturnType<typeof spawnDaemonProcess>;
    try {
      child = spawnDaemonProcess({ paths, execArgv: ['--no-warnings'], waitMs: 1234.2 });
    } finally {
      if (previous === undefined) delete process.env.LOOPBACK_SINGLETON_DAEMON_ARGS;
      else process.env.LOOPBACK_SINGLETON_DAEMON_ARGS = previous;
    }
    expect(child.spawnargs).toEqual([process.execPath, '--no-warnings', '--stack-size=900', '--no-deprecation', ENTRY, root, '1235']);
    expect(child.pid).toBeGreaterThan(0);
    // An IPC channel for the config; advanced serialisation carries its bytes.
    expect(child.connected).toBe(true);
    expect(await exited(child)).toBe(1);
    const log = readFileSync(paths.log, 'utf8');
    expect(log).toContain('Cannot find module');
    expect(log).toContain(ENTRY);
    expect(statSync(paths.log).mode & 0o777).toBe(0o600);
  });

  it("without an execArgv option it passes on the spawner's loader flags only; a wait below 1 ms is 1", async () => {
    const child = spawnDaemonProcess({ paths, execArgv: undefined, waitMs: 0.2 });
    expect(child.spawnargs).toEqual([process.execPath, ...inheritedExecArgv(process.execArgv), ENTRY, root, '1']);
    await exited(child);
  });

  it('rotates a daemon.log over its limit to daemon.log.1 before the new process writes', async () => {
    const big = 'x'.repeat(DAEMON_LOG_MAX_BYTES + 1);
    writeFileSync(paths.log, big);
    const child = spawnDaemonProcess({ paths, execArgv: [], waitMs: 1000 });
    await exited(child);
    expect(readFileSync(`${paths.log}.1`, 'utf8')).toBe(big);
    expect(readFileSync(paths.log, 'utf8')).toContain('Cannot find module');
    expect(existsSync(dirname(paths.log))).toBe(true);
  });

  it('leaves a daemon.log at its limit where it is', async () => {
    const full = 'y'.repeat(DAEMON_LOG_MAX_BYTES);
    writeFileSync(paths.log, full);
    await exited(spawnDaemonProcess({ paths, execArgv: [], waitMs: 1000 }));
    expect(existsSync(`${paths.log}.1`)).toBe(false);
    expect(readFileSync(paths.log, 'utf8').startsWith(full)).toBe(true);
  });
});
