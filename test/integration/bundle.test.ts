/**
 * The package entry users import is the bundle (dist/bundle, scripts/bundle.mjs). It must be
 * the same library: the bundled client spawns the bundled daemon (not dist/src's), its errors
 * are the classes it exports, and it interoperates with the unbundled build on one runtime dir.
 * Both processes start from the code caches the build left (src/bundle/load.ts).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import * as bundled from 'loopback-singleton';
import * as unbundled from '../../dist/src/index.js';
import { freshRoot, SERVICES_URL, waitForExit } from '../support/daemon.js';

const ROOT = join(import.meta.dirname, '..', '..');

interface Counter {
  inc(): number;
  _secret(): string;
}

/** The daemon process's argv, from /proc. */
function argvOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
}

describe('the bundled package entry', () => {
  it('is what `loopback-singleton` resolves to', () => {
    expect(import.meta.resolve('loopback-singleton')).toBe(`file://${join(ROOT, 'dist', 'bundle', 'client', 'index.js')}`);
    expect(Object.keys(bundled).sort()).toEqual(Object.keys(unbundled).sort());
  });

  it('starts from the code caches the build made, in the client and in the daemon', () => {
    for (const lib of ['client', 'daemon']) {
      const script = [
        // The daemon entry checks that a spawner's channel is there, then waits for a config.
        'process.send = () => true;',
        `const loaded = require(${JSON.stringify(join(ROOT, 'dist', 'bundle', 'lib', 'load.cjs'))})`,
        `  .loadBundle(${JSON.stringify(join(ROOT, 'dist', 'bundle', 'lib', `${lib}.cjs`))});`,
        'process.stdout.write(loaded.cache);',
        'process.exit(0);',
      ].join('\n');
      const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, LOOPBACK_SINGLETON_CODE_CACHE: '' } });
      expect({ lib, status: child.status, cache: child.stdout, stderr: child.stderr }).toEqual({ lib, status: 0, cache: 'accepted', stderr: '' });
    }
  });

  it('maps stacks to the TypeScript sources under --enable-source-maps, the daemon included', async () => {
    const runtimeDir = freshRoot();
    const script = `
      import { localSingleton } from 'loopback-singleton';
      try { localSingleton('bad name!', './x.js:X'); } catch (error) { console.log(error.stack.split('\\n')[1]); }
      const svc = localSingleton('mapped', ${JSON.stringify(`${SERVICES_URL}:Counter`)}, { runtimeDir: ${JSON.stringify(runtimeDir)} });
      const counter = await svc.proxy();
      console.log(await counter.inc(), (await svc.ping()).pid);
      await counter[Symbol.asyncDispose]();
      await svc.shutdown();`;
    const child = spawnSync(process.execPath, ['--enable-source-maps', '--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8' });
    expect(child.stderr).toBe('');
    const [frame, reply] = child.stdout.trim().split('\n');
    expect(frame).toContain(join(ROOT, 'src', 'client', 'service.ts'));
    const [count, pid] = reply!.split(' ').map(Number);
    expect(count).toBe(1);
    await waitForExit(pid!);
    // The daemon inherited the flag, so Node's own loader ran its library too.
    expect(readFileSync(join(runtimeDir, 'mapped', 'daemon.log'), 'utf8')).toContain('exit 0');
  });

  it('keeps every error class its own name (a bundler may rename colliding classes)', () => {
    const errorClasses = Object.entries(bundled).filter(([key]) => key.endsWith('Error'));
    expect(errorClasses.length).toBeGreaterThan(8);
    for (const [key, ErrorClass] of errorClasses) {
      expect(new (ErrorClass as new (message: string) => Error)('message').name).toBe(key);
    }
  });

  it('spawns the bundled daemon, and its errors are the classes it exports', async () => {
    const runtimeDir = freshRoot();
    const svc = bundled.localSingleton<Counter>('bundled', `${SERVICES_URL}:Counter`, { runtimeDir });
    const counter = await svc.proxy();
    const { pid } = await svc.ping();
    onTestFinished(async () => {
      await bundled.closeRemote(counter);
      await svc.shutdown();
      await waitForExit(pid);
    });
    expect(await counter.inc()).toBe(1);
    expect(argvOf(pid)).toContain(join(ROOT, 'dist', 'bundle', 'daemon', 'main.js'));
    const error = await counter._secret().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(bundled.MethodNotAllowedError);
    expect(error).toBeInstanceOf(bundled.LoopbackSingletonError);
  });

  it('shares one daemon with the unbundled build on the same runtime dir', async () => {
    const runtimeDir = freshRoot();
    const factory = `${SERVICES_URL}:Counter`;
    const fromBundle = bundled.localSingleton<Counter>('shared', factory, { runtimeDir });
    const fromSrc = unbundled.localSingleton<Counter>('shared', factory, { runtimeDir });
    const a = await fromBundle.proxy();
    const b = await fromSrc.proxy();
    const { pid } = await fromSrc.ping();
    onTestFinished(async () => {
      await bundled.closeRemote(a);
      await unbundled.closeRemote(b);
      await fromSrc.shutdown();
      await waitForExit(pid);
    });
    expect([await a.inc(), await b.inc(), await a.inc()]).toEqual([1, 2, 3]);
    expect((await fromBundle.ping()).pid).toBe(pid);
    expect(argvOf(pid)).toContain(join(ROOT, 'dist', 'bundle', 'daemon', 'main.js'));
  });
});
