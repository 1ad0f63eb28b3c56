/**
 * A supervised proxy (src/client/supervised.ts) whose daemon, served in this process
 * (test/support/in-process.ts), is lost: what it shows when inspected, a call past the restart
 * limit (fails fast until when, and why), a restart that fails for a local reason (reported
 * as it is), and a disposed proxy. Restarts that succeed are ./streams-events.test.ts's.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { closeRemote, withCallOptions } from '../../src/client/proxy.js';
import { localSingleton } from '../../src/client/service.js';
import type { LocalSingletonOptions } from '../../src/options.js';
import { daemons, makeRoot, removeRoot, SERVICES, stopInProcessDaemons } from '../support/in-process.js';

vi.mock('../../src/client/daemon-process.js', async (load) => ({
  ...(await load<typeof import('../../src/client/daemon-process.js')>()),
  spawnDaemonProcess: (await import('../support/in-process.js')).spawnInProcess,
}));

interface Counter {
  inc(): number;
}

let root: string;
beforeEach(() => {
  root = makeRoot('lbs-supervised-');
});
afterEach(async () => {
  await stopInProcessDaemons();
  removeRoot(root);
});

function service(options: LocalSingletonOptions = {}) {
  return localSingleton<Counter>('svc', `${SERVICES}:Counter`, { runtimeDir: root, ...options });
}

/** Stops the newest daemon as a crash would look to its clients. */
async function loseDaemon(): Promise<void> {
  const last = daemons().at(-1)!;
  last.daemon!.shutdownRequested(true);
  await last.outcome;
}

describe('a supervised proxy whose daemon is lost', () => {
  it('shows its state and the pid it last reached when inspected, and a call timeout it carries', async () => {
    const counter = await service({ restart: false }).proxy();
    expect(inspect(counter)).toBe(`Remote<svc> { state: 'connected', pid: ${process.pid} }`);
    expect(inspect(withCallOptions(counter, { timeoutMs: 500 }))).toBe(`Remote<svc> { state: 'connected', pid: ${process.pid}, timeoutMs: 500 }`);
    await loseDaemon();
    await expect(counter.inc()).rejects.toMatchObject({ code: 'ERR_PROXY_CLOSED' });
    expect(inspect(counter)).toBe(`Remote<svc> { state: 'failed', pid: ${process.pid} }`);
    await closeRemote(counter);
    expect(inspect(counter)).toBe(`Remote<svc> { state: 'disposed', pid: ${process.pid} }`);
  });

  it('restarts once, the call that found it lost not sent; past its restart limit, fails fast until a given time, saying the limit, with the last loss as its cause', async () => {
    const counter = await service({ restart: { maxRestarts: 1, periodMs: 600_000 } }).proxy();
    await loseDaemon();
    // The call that finds the daemon lost restarts it, and is not sent: the object is new.
    const lost = (await counter.inc().catch((caught: unknown) => caught)) as Error;
    expect(lost).toMatchObject({ code: 'ERR_DAEMON_LOST' });
    expect(lost.message).toBe(
      `The daemon "svc" (pid ${process.pid}) was lost (The connection to the daemon was lost), and with it the object's state. This call was not sent. The next call goes to the new daemon (pid ${process.pid}), which starts from a new object`,
    );
    expect(await counter.inc()).toBe(1);
    expect(daemons()).toHaveLength(2);
    await loseDaemon();
    const before = Date.now();
    const error = (await counter.inc().catch((caught: unknown) => caught)) as Error & { code: string; retryAt: number };
    expect(error).toMatchObject({ name: 'RestartLimitError', code: 'ERR_RESTART_LIMIT' });
    expect(error.retryAt).toBeGreaterThanOrEqual(before);
    expect(error.message).toBe(
      `The daemon "svc" was restarted too often (1 restarts within 600000 ms); this proxy fails fast until ${new Date(error.retryAt).toISOString()}`,
    );
    expect(error.cause).toMatchObject({ code: 'ERR_DAEMON_LOST' });
    expect(daemons()).toHaveLength(2);
    expect(inspect(counter)).toMatch(/^Remote<svc> \{ state: 'backingOff', pid: \d+ \}$/);
    await closeRemote(counter);
  });

  it('a restart that fails for a local reason (a token file that is not private) rejects the call with that error as it is', async () => {
    const svc = service();
    const counter = await svc.proxy();
    await loseDaemon();
    writeFileSync(svc.paths.token, 'a'.repeat(64), { mode: 0o644 });
    chmodSync(svc.paths.token, 0o644);
    const error = (await counter.inc().catch((caught: unknown) => caught)) as Error & { code: string };
    expect(error.code).toBe('ERR_LOOPBACK_SINGLETON');
    expect(error.message).toContain('delete the file so a new one is made');
    expect(inspect(counter)).toMatch(/state: 'disconnected'/);
    await closeRemote(counter);
  });

  it('disposed: every call fails with ERR_PROXY_CLOSED, before and after a loss', async () => {
    const counter = await service().proxy();
    await closeRemote(counter);
    await expect(counter.inc()).rejects.toMatchObject({ code: 'ERR_PROXY_CLOSED' });
    await loseDaemon();
    const error = (await counter.inc().catch((caught: unknown) => caught)) as Error;
    expect(error).toMatchObject({ code: 'ERR_PROXY_CLOSED', message: 'This proxy was disposed' });
    expect(daemons()).toHaveLength(1);
  });
});
