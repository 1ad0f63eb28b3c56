/**
 * An ipc daemon served in this process (test/support/in-process.ts) whose socket file is
 * deleted or replaced by a regular file: its upkeep notices, listens again at the same path
 * (src/daemon/listen.ts `rebind`), keeps the connections it had, and says so in daemon.log.
 */
import { lstatSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { closeRemote } from '../../src/client/proxy.js';
import { localSingleton } from '../../src/client/service.js';
import { socketIdAt } from '../../src/daemon/listen.js';
import type { DaemonMetadata } from '../../src/types.js';
import { makeRoot, removeRoot, SERVICES, stopInProcessDaemons } from '../support/in-process.js';

vi.mock('../../src/client/daemon-process.js', async (load) => ({
  ...(await load<typeof import('../../src/client/daemon-process.js')>()),
  spawnDaemonProcess: (await import('../support/in-process.js')).spawnInProcess,
}));

const WAIT = { timeout: 10_000, interval: 20 };

let root: string;
beforeEach(() => {
  root = makeRoot('lbs-rebind-');
});
afterEach(async () => {
  await stopInProcessDaemons();
  removeRoot(root);
});

const service = () => localSingleton<{ inc(): number }>('svc', `${SERVICES}:Counter`, { runtimeDir: root, transport: 'ipc' });

describe('an ipc daemon whose socket file goes away', () => {
  it.each([
    ['deleted', (path: string) => rmSync(path)],
    [
      'replaced by a regular file',
      (path: string) => {
        rmSync(path);
        writeFileSync(path, 'not a socket');
      },
    ],
  ])('%s: listens again at the same path, keeps its connections, and logs it', async (_, damage) => {
    const svc = service();
    const first = await svc.proxy();
    expect(await first.inc()).toBe(1);
    const { path } = JSON.parse(readFileSync(svc.paths.metadata, 'utf8')) as DaemonMetadata;
    const before = socketIdAt(path!);
    expect(before).toBeDefined();
    damage(path!);
    await vi.waitFor(() => {
      const now = socketIdAt(path!);
      expect(now).toBeDefined();
      expect(now).not.toBe(before);
    }, WAIT);
    expect(lstatSync(path!).isSocket()).toBe(true);
    await vi.waitFor(() => expect(readFileSync(svc.paths.log, 'utf8')).toContain(`ipc socket ${path} was deleted or replaced; re-bound it`), WAIT);
    // The connection made before goes on; a new client reaches the same daemon at the new socket.
    expect(await first.inc()).toBe(2);
    const second = await service().proxy();
    expect(await second.inc()).toBe(3);
    // The record still names this daemon's socket.
    expect((JSON.parse(readFileSync(svc.paths.metadata, 'utf8')) as DaemonMetadata).path).toBe(path);
    await closeRemote(first);
    await closeRemote(second);
  });

  it('socketIdAt: undefined for nothing there, a regular file, or a path that cannot be looked at', () => {
    const file = `${root}/plain`;
    writeFileSync(file, '');
    expect(socketIdAt(`${root}/missing`)).toBeUndefined();
    expect(socketIdAt(file)).toBeUndefined();
    expect(socketIdAt(`${root}/${'x'.repeat(300)}`)).toBeUndefined();
  });
});
