/**
 * The daemon's setup made explicit (issue 19 point 6): the `identity` option's env keys and
 * value, the `execArgv` option, and the local modules the factory loaded are part of what a
 * client checks; a client with another setup gets `onMismatch`, never a silent answer.
 * Clients with their own env are real processes (test/fixtures/worker.mjs).
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FactoryMismatchError, localSingleton, type LocalSingletonOptions } from '../../dist/src/index.js';
import { DIST_INDEX, service, WORKER, type WorkerResult } from '../support/clients.js';
import { FIXTURES, freshRoot, isAlive, waitForExit } from '../support/daemon.js';

const SETUP = `${pathToFileURL(join(FIXTURES, 'setup.mjs')).href}:Setup`;

interface Setup {
  nodeEnv(): string | null;
  execArgv(): string[];
  nodeVersion(): string;
}

/** A client process with its own NODE_ENV that calls `nodeEnv()` once. */
function clientWithEnv(runtimeDir: string, nodeEnv: string, options: LocalSingletonOptions): Promise<WorkerResult> {
  const spec = { dist: DIST_INDEX, runtimeDir, name: 'setup', factory: SETUP, options: { idleTtlMs: 60_000, ...options }, method: 'nodeEnv', count: 1 };
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [WORKER, JSON.stringify(spec)], { timeout: 30_000, env: { ...process.env, NODE_ENV: nodeEnv } }, (error, stdout, stderr) => {
      if (error) return reject(new Error(`worker failed: ${error.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop()!) as WorkerResult);
    });
  });
}

/** Stops whatever daemon runs `setup` under `root` when the test ends. */
function stopAtEnd(root: string): void {
  const svc = localSingleton('setup', SETUP, { runtimeDir: root });
  onTestFinished(() => svc.shutdown({ force: true }));
}

describe('identity: { env }', () => {
  const identity = { env: ['NODE_ENV'] };

  it('a client with another NODE_ENV gets FactoryMismatchError naming the key, not the values', async () => {
    const root = freshRoot();
    stopAtEnd(root);
    const first = await clientWithEnv(root, 'test', { identity });
    expect(first.error).toBeUndefined();
    expect(first.results).toEqual(['test']);

    const second = await clientWithEnv(root, 'production', { identity });
    expect(second.error?.code).toBe('ERR_FACTORY_MISMATCH');
    expect(second.error?.message).toContain('env NODE_ENV differs');
    expect(second.error?.message).not.toContain('production');
    // The first daemon was left alone.
    const again = await clientWithEnv(root, 'test', { identity });
    expect(again.pid).toBe(first.pid);
  });

  it("with onMismatch 'replace' the new daemon runs with the new client's NODE_ENV", async () => {
    const root = freshRoot();
    stopAtEnd(root);
    const first = await clientWithEnv(root, 'test', { identity });
    expect(first.results).toEqual(['test']);
    const second = await clientWithEnv(root, 'production', { identity, onMismatch: 'replace' });
    expect(second.error).toBeUndefined();
    expect(second.results).toEqual(['production']);
    expect(second.pid).not.toBe(first.pid);
    await waitForExit(first.pid!);
  });

  it("without the identity option the daemon keeps its spawner's env and serves the other client (documented)", async () => {
    const root = freshRoot();
    stopAtEnd(root);
    const first = await clientWithEnv(root, 'test', {});
    const second = await clientWithEnv(root, 'production', {});
    expect(second.error).toBeUndefined();
    expect(second.pid).toBe(first.pid);
    expect(second.results).toEqual(['test']);
  });
});

describe('identity: { value }', () => {
  it('another value is a mismatch; the same value (any key order) is served', async () => {
    const root = freshRoot();
    const first = service<Setup>({ runtimeDir: root, identity: { value: { schema: 3, tag: 'a' } } }, SETUP, 'setup');
    const { pid } = await first.ping();
    const same = localSingleton<Setup>('setup', SETUP, { runtimeDir: root, identity: { value: { tag: 'a', schema: 3 } } });
    expect((await same.ping()).pid).toBe(pid);
    const other = localSingleton<Setup>('setup', SETUP, { runtimeDir: root, identity: { value: { schema: 4, tag: 'a' } } });
    const error = await other.ping().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FactoryMismatchError);
    expect((error as FactoryMismatchError).code).toBe('ERR_FACTORY_MISMATCH');
    expect((error as Error).message).toContain('identity.value');
  });
});

describe('execArgv', () => {
  it('the daemon runs with exactly the given flags, shown in DaemonInfo, and other flags are a mismatch', async () => {
    const root = freshRoot();
    const execArgv = ['--max-old-space-size=200', '--no-warnings'];
    const svc = service<Setup>({ runtimeDir: root, execArgv }, SETUP, 'setup');
    const proxy = await svc.proxy();
    expect(await proxy.execArgv()).toEqual(execArgv);
    const info = await svc.ping();
    expect(info.execArgv).toEqual(execArgv);
    expect(info.factory.execArgv).toEqual(execArgv);
    expect(info.nodeVersion).toBe(process.version);

    const other = localSingleton<Setup>('setup', SETUP, { runtimeDir: root, execArgv: ['--no-warnings'] });
    const error = await other.ping().catch((e: unknown) => e);
    expect((error as FactoryMismatchError).code).toBe('ERR_FACTORY_MISMATCH');
    expect((error as Error).message).toContain('--max-old-space-size=200');
    const inherited = localSingleton<Setup>('setup', SETUP, { runtimeDir: root });
    expect(((await inherited.ping().catch((e: unknown) => e)) as FactoryMismatchError).code).toBe('ERR_FACTORY_MISMATCH');
  });

  it('[] starts the daemon with no flags at all', async () => {
    const svc = service<Setup>({ execArgv: [] }, SETUP, 'setup');
    expect(await (await svc.proxy()).execArgv()).toEqual([]);
  });
});

describe("the factory's own modules", () => {
  /** A factory that imports a helper, which imports another: each file in a temp dir. */
  function project(): { url: string; helper: string; deep: string } {
    const dir = freshRoot();
    const deep = join(dir, 'deep.mjs');
    const helper = join(dir, 'helper.mjs');
    writeFileSync(deep, 'export const step = 1;\n');
    writeFileSync(helper, "import { step } from './deep.mjs';\nexport const next = (n) => n + step;\n");
    writeFileSync(
      join(dir, 'factory.mjs'),
      "import { next } from './helper.mjs';\nexport class Counter { constructor() { this.n = 0; } inc() { this.n = next(this.n); return this.n; } }\n",
    );
    return { url: `${pathToFileURL(join(dir, 'factory.mjs')).href}:Counter`, helper, deep };
  }

  it('are recorded with their hashes, and an edited helper is a mismatch that names it', async () => {
    const root = freshRoot();
    const app = project();
    const first = service<{ inc(): number }>({ runtimeDir: root }, app.url, 'app');
    expect(await (await first.proxy()).inc()).toBe(1);
    const info = await first.ping();
    expect(Object.keys(info.modules)).toEqual(expect.arrayContaining([app.helper, app.deep]));
    // None of the package's own files or node_modules.
    expect(Object.keys(info.modules).filter((path) => path.includes('node_modules') || path.includes(`${join('dist', 'src')}`))).toEqual([]);

    // The same code: a second client is served by the same daemon.
    const same = localSingleton('app', app.url, { runtimeDir: root });
    expect((await same.ping()).pid).toBe(info.pid);

    // An edit two imports deep, same size: noticed.
    writeFileSync(app.deep, 'export const step = 5;\n');
    const after = localSingleton('app', app.url, { runtimeDir: root });
    const error = await after.ping().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FactoryMismatchError);
    expect((error as Error).message).toContain(app.deep);
    expect(isAlive(info.pid)).toBe(true);

    // Replaced: the new daemon runs the new code.
    const replacing = localSingleton<{ inc(): number }>('app', app.url, { runtimeDir: root, onMismatch: 'replace' });
    onTestFinished(() => replacing.shutdown({ force: true }));
    expect(await (await replacing.proxy()).inc()).toBe(5);
    const fresh = await replacing.ping();
    expect(fresh.pid).not.toBe(info.pid);
    expect(fresh.startReason).toBe('replace');
  });
});
