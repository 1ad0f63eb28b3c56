/**
 * daemon.log of a long-lived daemon: it holds the daemon's stdout and stderr and its lifecycle
 * lines, and the running daemon rotates it past 1 MiB (src/daemon/log.ts), so that a daemon
 * that lives for weeks does not fill the disk.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, vi } from 'vitest';
import { DAEMON_LOG_MAX_BYTES } from '../../dist/src/runtime/paths.js';
import { FIXTURES, startDaemon } from '../support/daemon.js';

const CHATTY = { module: pathToFileURL(join(FIXTURES, 'chatty.mjs')).href, export: 'Chatty' };

describe('daemon.log', () => {
  it('is rotated to daemon.log.1 by the running daemon once it passes its limit, and goes on', async () => {
    const daemon = await startDaemon({ factory: CHATTY });
    const connection = await daemon.connect();
    const log = daemon.paths.log;
    for (let i = 0; i < 5; i++) await connection.call('say', ['x', DAEMON_LOG_MAX_BYTES / 4]);
    await vi.waitFor(() => expect(statSync(`${log}.1`).size).toBeGreaterThan(DAEMON_LOG_MAX_BYTES), { timeout: 5000, interval: 50 });
    expect(readFileSync(`${log}.1`, 'utf8')).toContain(`ready: svc on ${daemon.metadata.host}:${daemon.metadata.port}`);

    expect(await connection.call('say', ['printed after the rotation'])).toBe(1);
    const now = readFileSync(log, 'utf8');
    expect(now).toContain('earlier lines are in daemon.log.1');
    expect(now).toContain('printed after the rotation\n');
    expect(now).not.toContain('\0');
    expect(statSync(log).size).toBeLessThan(DAEMON_LOG_MAX_BYTES);
  });
});
