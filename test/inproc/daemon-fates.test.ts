/**
 * How a daemon served in this process (test/support/in-process.ts) ends when no client asks it
 * to: an uncaught error in its process (src/daemon/main.ts calls `crash`), and a record of
 * another live daemon put in its place (it steps down). What it logs, what its clients see,
 * and what it leaves on disk.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { closeRemote } from '../../src/client/proxy.js';
import { localSingleton } from '../../src/client/service.js';
import { readMetadata, writeMetadata } from '../../src/runtime/metadata.js';
import { processStartTime } from '../../src/runtime/process.js';
import type { DaemonMetadata } from '../../src/types.js';
import { daemons, makeRoot, removeRoot, SERVICES, stopInProcessDaemons } from '../support/in-process.js';

vi.mock('../../src/client/daemon-process.js', async (load) => ({
  ...(await load<typeof import('../../src/client/daemon-process.js')>()),
  spawnDaemonProcess: (await import('../support/in-process.js')).spawnInProcess,
}));

const WAIT = { timeout: 10_000, interval: 20 };

let root: string;
const children: ChildProcess[] = [];
beforeEach(() => {
  root = makeRoot('lbs-fates-');
});
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  await stopInProcessDaemons();
  removeRoot(root);
});

const service = () => localSingleton<{ inc(): number }>('svc', `${SERVICES}:Counter`, { runtimeDir: root, restart: false });

describe('a daemon that ends on its own', () => {
  it('an uncaught error: logged with its stack, its record removed, its clients lost, and it ends failed', async () => {
    const svc = service();
    const counter = await svc.proxy();
    expect(await counter.inc()).toBe(1);
    const served = daemons()[0]!;
    const error = new RangeError('escaped the mailbox');
    served.daemon!.crash(error);
    expect(await served.outcome).toBe('failed');
    const log = readFileSync(svc.paths.log, 'utf8');
    expect(log).toContain(`uncaught RangeError: escaped the mailbox\n${error.stack}`);
    expect(log).toMatch(/failed \(ERR_LOOPBACK_SINGLETON\) \d+ ms after its spawn: RangeError: escaped the mailbox\n/);
    expect(existsSync(svc.paths.metadata)).toBe(false);
    // Its client (restart: false) learns the daemon is gone, and fails from then on.
    await vi.waitFor(() => expect(inspect(counter)).toContain("state: 'disconnected'"), WAIT);
    await expect(counter.inc()).rejects.toMatchObject({ code: 'ERR_PROXY_CLOSED' });
    expect(served.reports.at(-1)).toMatchObject({ t: 'failed', error: { code: 'ERR_LOOPBACK_SINGLETON', name: 'RangeError', message: 'escaped the mailbox' } });
    await closeRemote(counter);
  });

  it('a thrown value that is no Error: logged as a non-Error, without a stack', async () => {
    const svc = service();
    const counter = await svc.proxy();
    const served = daemons()[0]!;
    served.daemon!.crash('a string');
    expect(await served.outcome).toBe('failed');
    expect(readFileSync(svc.paths.log, 'utf8')).toMatch(/uncaught Error: a string\n/);
    await closeRemote(counter);
  });

  it('a record of another live daemon in its place: it says by whom, drains, and leaves that record alone', async () => {
    const svc = service();
    const counter = await svc.proxy();
    const served = daemons()[0]!;
    const other = spawn(process.execPath, ['-e', "console.log('up'); setTimeout(() => {}, 20000)"], { stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(other);
    await new Promise((resolve) => other.stdout!.once('data', resolve));
    const mine = readMetadata(svc.paths.metadata);
    expect(mine.status).toBe('valid');
    const successor = { ...(mine as { metadata: DaemonMetadata }).metadata, pid: other.pid!, startTime: processStartTime(other.pid!), instanceId: 'b'.repeat(32) };
    writeMetadata(svc.paths.metadata, successor);
    expect(await served.outcome).toBe('stopped');
    await vi.waitFor(() => expect(readFileSync(svc.paths.log, 'utf8')).toContain(`superseded by daemon ${other.pid} (${'b'.repeat(32)}); draining`), WAIT);
    expect(readMetadata(svc.paths.metadata)).toEqual({ status: 'valid', metadata: successor });
    await closeRemote(counter);
  });
});
