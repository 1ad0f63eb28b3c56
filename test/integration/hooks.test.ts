import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { closeRemote } from '../../dist/src/index.js';
import { FIXTURES, freshRoot, waitForExit } from '../support/daemon.js';
import { IDLE_TEST_START_TIMEOUT_MS, service } from '../support/clients.js';

const PERSIST = pathToFileURL(join(FIXTURES, 'persist.mjs')).href;

interface Store {
  add(item: unknown): number;
  hold(ms: number, tag: string): Promise<string>;
}

describe('hosted-object lifecycle hooks', () => {
  it('the dispose hook persists the state on idle shutdown, exactly once', async () => {
    const file = join(freshRoot(), 'store.json');
    const svc = service<Store>({ args: [file], idleTtlMs: 300, startTimeoutMs: IDLE_TEST_START_TIMEOUT_MS }, `${PERSIST}:Store`);
    const store = await svc.proxy();
    expect(await store.add('a')).toBe(1);
    expect(await store.add('b')).toBe(2);
    const { pid } = await svc.ping();
    await closeRemote(store);
    await waitForExit(pid);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(['a', 'b']);
    expect(readFileSync(`${file}.calls`, 'utf8')).toBe('disposed\n');
    expect(readFileSync(svc.paths.log, 'utf8')).toContain('dispose hook done');
  });

  it('shutdown() resolves after the hook ran, after the last accepted call', async () => {
    const file = join(freshRoot(), 'store.json');
    const svc = service<Store>({ args: [file] }, `${PERSIST}:Store`);
    const store = await svc.proxy();
    await store.add('first');
    const accepted = store.hold(100, 'last-call');
    await svc.ping();
    await svc.shutdown();
    expect(await accepted).toBe('last-call');
    // The hook saw the last accepted call's effect: it ran after it.
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual(['first', 'last-call']);
    expect(readFileSync(`${file}.calls`, 'utf8')).toBe('disposed\n');
  });

  it('a plain dispose() method is the hook too', async () => {
    const file = join(freshRoot(), 'plain.log');
    const svc = service<{ ping(): string }>({ args: [file] }, `${PERSIST}:PlainDispose`);
    expect(await (await svc.proxy()).ping()).toBe('pong');
    await svc.shutdown();
    expect(readFileSync(file, 'utf8')).toBe('plain dispose\n');
  });

  it('a hook that throws is logged, and the daemon still stops cleanly', async () => {
    const svc = service<{ ping(): string }>({}, `${PERSIST}:BadDispose`);
    const proxy = await svc.proxy();
    expect(await proxy.ping()).toBe('pong');
    await svc.shutdown();
    const log = readFileSync(svc.paths.log, 'utf8');
    expect(log).toContain('dispose hook threw');
    expect(log).toContain('disk on fire');
    expect(log).toContain('exit 0 (stopped)');
    expect(existsSync(svc.paths.metadata)).toBe(false);
  });
});
