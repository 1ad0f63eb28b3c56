/**
 * The runtime root is never relative to the working directory: an empty HOME falls back to
 * the account's home, a relative LOOPBACK_SINGLETON_RUNTIME_DIR is refused. Real client
 * processes started in two directories reach one daemon, or fail clearly; never two daemons.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { localSingleton } from '../../dist/src/index.js';
import { freshRoot } from '../support/daemon.js';
import { COUNTER, DIST_INDEX } from '../support/clients.js';

/** The environment of this process without any variable that names a runtime root. */
function bareEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.LOOPBACK_SINGLETON_RUNTIME_DIR;
  delete env.XDG_RUNTIME_DIR;
  return { ...env, ...extra };
}

/** Runs `body` (an async module body with `localSingleton` in scope) in a client process in `cwd`; returns its printed JSON. */
function client(cwd: string, env: NodeJS.ProcessEnv, body: string): Promise<Record<string, unknown>> {
  const script = `import { localSingleton } from ${JSON.stringify(DIST_INDEX)};\nconst out = await (async () => { ${body} })();\nconsole.log(JSON.stringify(out));`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { cwd, env, timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>);
    });
  });
}

const twoDirs = (): [string, string] => [mkdtempSync(join(freshRoot(), 'cwd-a-')), mkdtempSync(join(freshRoot(), 'cwd-b-'))];

describe('the runtime root is absolute', () => {
  it('HOME="" in two working directories: both clients resolve the same absolute root, the account home\'s', async () => {
    const [a, b] = twoDirs();
    const env = bareEnv({ HOME: '' });
    const body = `return { dir: localSingleton('home-probe', ${JSON.stringify(COUNTER)}).paths.dir };`;
    const [fromA, fromB] = await Promise.all([client(a, env, body), client(b, env, body)]);
    expect(fromA.dir).toBe(fromB.dir);
    expect(fromA.dir).toBe(join(userInfo().homedir, '.cache', 'loopback-singleton', 'home-probe'));
  });

  it('HOME="" with an XDG_RUNTIME_DIR: clients in two working directories reach one daemon', async () => {
    const xdg = freshRoot();
    const [a, b] = twoDirs();
    const env = bareEnv({ HOME: '', XDG_RUNTIME_DIR: xdg });
    const body = `const svc = localSingleton('svc', ${JSON.stringify(COUNTER)}, { idleTtlMs: 30000 }); const p = await svc.proxy(); return { n: await p.inc(), pid: (await svc.ping()).pid };`;
    const svc = localSingleton('svc', COUNTER, { runtimeDir: join(xdg, 'loopback-singleton') });
    onTestFinished(() => svc.shutdown({ force: true }));
    const first = await client(a, env, body);
    const second = await client(b, env, body);
    expect([first.n, second.n]).toEqual([1, 2]);
    expect(second.pid).toBe(first.pid);
  });

  it('a relative LOOPBACK_SINGLETON_RUNTIME_DIR is refused in every working directory; nothing is created', async () => {
    const [a, b] = twoDirs();
    const env = bareEnv({ LOOPBACK_SINGLETON_RUNTIME_DIR: 'rt' });
    const body = `try { const svc = localSingleton('svc', ${JSON.stringify(COUNTER)}); await svc.proxy(); return { started: true }; } catch (e) { return { code: e.code, message: e.message }; }`;
    const results = await Promise.all([client(a, env, body), client(b, env, body)]);
    for (const result of results) {
      expect(result.code).toBe('ERR_LOOPBACK_SINGLETON');
      expect(result.message).toContain('absolute');
    }
    expect(existsSync(join(a, 'rt'))).toBe(false);
    expect(existsSync(join(b, 'rt'))).toBe(false);
  });
});
