/**
 * A hosted object with a `then()` method is hosted as it is: the daemon starts (it used to
 * hang, or host what `then` resolved), its methods answer, and `then` itself is never
 * callable remotely (the proxy is not thenable, the mailbox refuses the name).
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { closeRemote } from '../../dist/src/index.js';
import { FIXTURES } from '../support/daemon.js';
import { service } from '../support/clients.js';

const THENABLE = pathToFileURL(join(FIXTURES, 'thenable.mjs')).href;

interface Counting {
  inc(): number;
}

describe('a hosted object with a then() method', () => {
  it.each(['Thenable', 'hanging'])('%s: the daemon starts and hosts the object itself; then is not callable remotely', async (exportName) => {
    const svc = service<Counting>({ startTimeoutMs: 15_000 }, `${THENABLE}:${exportName}`);
    const proxy = await svc.proxy();
    expect(await proxy.inc()).toBe(1);
    expect(await proxy.inc()).toBe(2);
    // `await proxy` yields the proxy: its then is undefined, never forwarded.
    expect((proxy as unknown as { then?: unknown }).then).toBeUndefined();
    const remoteThen = (proxy as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>).then;
    expect(remoteThen).toBeUndefined();
    expect((await svc.ping()).callsServed).toBe(2);
    await closeRemote(proxy);
  });

  it('an async factory is still awaited once', async () => {
    const svc = service<{ answer(): number }>({ startTimeoutMs: 15_000 }, `${THENABLE}:later`);
    const proxy = await svc.proxy();
    expect(await proxy.answer()).toBe(42);
    await closeRemote(proxy);
  });
});
