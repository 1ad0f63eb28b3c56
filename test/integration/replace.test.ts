import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { closeRemote, FactoryMismatchError, localSingleton } from '../../dist/src/index.js';
import { freshRoot, isAlive, waitForExit } from '../support/daemon.js';

interface Versioned {
  version(): string;
  inc(): number;
  hold(ms: number, tag: string): Promise<string>;
}

/** A factory module in a temp dir whose code a test can edit. */
function editableModule(version: string): { url: string; edit(next: string): void } {
  const file = join(freshRoot(), 'versioned.mjs');
  const source = (v: string) => `
export class Versioned {
  constructor() { this.value = 0; }
  version() { return ${JSON.stringify(v)}; }
  inc() { this.value += 1; return this.value; }
  async hold(ms, tag) { await new Promise((resolve) => setTimeout(resolve, ms)); return tag; }
}
`;
  writeFileSync(file, source(version));
  return { url: `${pathToFileURL(file).href}:Versioned`, edit: (next) => writeFileSync(file, source(next)) };
}

describe('code changes', () => {
  it('editing the factory module makes a new client see a mismatch that says what differs', async () => {
    const root = freshRoot();
    const module = editableModule('v1');
    const before = localSingleton<Versioned>('versioned', module.url, { runtimeDir: root });
    onTestFinished(() => before.shutdown({ force: true }));
    expect(await (await before.proxy()).version()).toBe('v1');

    module.edit('v2');
    const after = localSingleton<Versioned>('versioned', module.url, { runtimeDir: root });
    const error = (await after.proxy().catch((e: unknown) => e)) as FactoryMismatchError;
    expect(error).toBeInstanceOf(FactoryMismatchError);
    expect(error.message).toContain('code has changed');
    expect(error.message).toContain("onMismatch: 'replace'");
  });

  it("with onMismatch 'replace' a new daemon runs the new code, and the old one answers its accepted calls", async () => {
    const root = freshRoot();
    const module = editableModule('v1');
    const old = localSingleton<Versioned>('versioned', module.url, { runtimeDir: root });
    onTestFinished(() => old.shutdown({ force: true }));
    const oldProxy = await old.proxy();
    const oldInfo = await old.ping();
    // Calls the old daemon has accepted when the replacement comes.
    const accepted = [oldProxy.hold(300, 'a'), oldProxy.hold(10, 'b')];
    await old.ping();

    module.edit('v2');
    const fresh = localSingleton<Versioned>('versioned', module.url, { runtimeDir: root, onMismatch: 'replace' });
    const freshProxy = await fresh.proxy();
    expect(await freshProxy.version()).toBe('v2');
    const info = await fresh.ping();
    expect(info.pid).not.toBe(oldInfo.pid);
    expect(info.startReason).toBe('replace');
    expect(info.factory.codeHash).not.toBe(oldInfo.factory.codeHash);

    // Nothing the old daemon accepted is lost; then it exits.
    expect(await Promise.all(accepted)).toEqual(['a', 'b']);
    await waitForExit(oldInfo.pid);
    expect(readFileSync(old.paths.log, 'utf8')).toContain('exit 0 (stopped)');
    expect(isAlive(info.pid)).toBe(true);
    await closeRemote(freshProxy);
    await closeRemote(oldProxy);
    await fresh.shutdown();
  });

  it('other arguments with onMismatch replace: the new daemon gets them', async () => {
    const root = freshRoot();
    const module = editableModule('v1');
    const first = localSingleton<Versioned>('versioned', module.url, { runtimeDir: root, args: [1] });
    onTestFinished(() => first.shutdown({ force: true }));
    const { pid } = await first.ping();
    const second = localSingleton<Versioned>('versioned', module.url, { runtimeDir: root, args: [2], onMismatch: 'replace' });
    const info = await second.ping();
    expect(info.pid).not.toBe(pid);
    const mismatch = await first.ensureStarted().catch((e: unknown) => e);
    expect(mismatch).toBeInstanceOf(FactoryMismatchError);
    expect((mismatch as Error).message).toContain('other arguments');
    await second.shutdown();
  });
});
