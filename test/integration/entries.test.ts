/**
 * What each process loads (the plain build's cold-start rules): importing the package loads no
 * statechart, xstate or socket code (those come with the first proxy(), after a compile cache
 * the user may turn on); the daemon loads no client, CLI or diagram code; both use msgpackr's
 * pure-JS entry, and neither loads the TLS code (src/net/) unless `tls` or `host` is configured.
 * Traced with a module hook (test/fixtures/trace-modules.mjs), in real processes.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { localSingleton } from '../../dist/src/index.js';
import { FIXTURES, freshRoot } from '../support/daemon.js';
import { COUNTER, DIST_INDEX } from '../support/clients.js';

const run = promisify(execFile);
const TRACE = join(FIXTURES, 'trace-modules.mjs');
const DIST = new URL('../../dist/', import.meta.url).href;
const SUPPORTED = typeof ((await import('node:module')) as { enableCompileCache?: unknown }).enableCompileCache === 'function';

/** The `loaded <url>` lines of `text`, as paths relative to dist/ (or node_modules/<pkg>). */
function loaded(text: string): string[] {
  return [...text.matchAll(/^loaded (\S+)$/gm)].map((m) => m[1]!.replace(DIST, '').replace(/^.*\/node_modules\//, 'node_modules/'));
}

describe('the modules each process loads', () => {
  // Only the spawn of a daemon process (client/daemon-process.js, for a standby) loads with the
  // package: the config, the boot report and everything the statechart decides come later.
  it('importing the package loads none of the daemon-facing parts', async () => {
    const { stderr } = await run(process.execPath, ['--import', TRACE, '-e', `import(${JSON.stringify(DIST_INDEX)})`]);
    const files = loaded(stderr);
    expect(files).toContain('src/index.js');
    expect(files.filter((f) => /xstate|machines\/|client\/(starter|connection|supervised|spawn)\.js|proper-lockfile|p-queue/.test(f))).toEqual([]);
  });

  it('the daemon loads no client, CLI or diagram code, msgpackr as pure JS, and says what its compile cache did', async () => {
    const runtimeDir = freshRoot();
    const script = `import(${JSON.stringify(DIST_INDEX)}).then(async (m) => { const s = m.localSingleton('entries', ${JSON.stringify(COUNTER)}, { runtimeDir: ${JSON.stringify(runtimeDir)} }); const c = await s.proxy(); await c.inc(); await m.closeRemote(c); })`;
    onTestFinished(() => localSingleton('entries', COUNTER, { runtimeDir }).shutdown({ force: true }));
    const client = await run(process.execPath, ['--import', TRACE, '-e', script], {
      env: { ...process.env, LOOPBACK_SINGLETON_DAEMON_ARGS: `--import ${TRACE}` },
    });
    const clientFiles = loaded(client.stderr);
    expect(clientFiles).toContain('src/client/starter.js');
    expect(clientFiles.filter((f) => f.startsWith('src/daemon/'))).toEqual([]);

    const log = readFileSync(join(runtimeDir, 'entries', 'daemon.log'), 'utf8');
    const daemonFiles = loaded(log);
    expect(daemonFiles).toContain('src/daemon/serve.js');
    expect(daemonFiles.filter((f) => /^src\/(client|cli|diagrams)\//.test(f))).toEqual([]);
    for (const files of [clientFiles, daemonFiles]) {
      // TLS and the off-loopback checks load only when `tls` or `host` is configured.
      expect(files.filter((f) => f.startsWith('src/net/'))).toEqual([]);
      expect(files.some((f) => f.startsWith('node_modules/msgpackr/'))).toBe(true);
      expect(files.filter((f) => f.includes('msgpackr-extract'))).toEqual([]);
    }
    expect(log).toMatch(SUPPORTED ? /compile cache: enabled \(.*compile-cache/ : /compile cache: unsupported/);
  });
});
