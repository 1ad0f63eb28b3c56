/**
 * The etcd client (etcd3, and gRPC and protobufjs under it) loads only for `scope: 'cluster'`:
 * none of the package's entries loads it, and the cluster registry's own module loads it only
 * when a registry is opened. Traced like ./entries.test.ts, with the module hook
 * test/fixtures/trace-modules.mjs, in real processes.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { localSingleton } from '../../dist/src/index.js';
import { COUNTER, DIST_INDEX } from '../support/clients.js';
import { FIXTURES, freshRoot } from '../support/daemon.js';

const run = promisify(execFile);
const TRACE = join(FIXTURES, 'trace-modules.mjs');
const DIST = new URL('../../dist/', import.meta.url).href;
const ETCD_CLIENT = /node_modules\/(etcd3|@grpc|protobufjs|cockatiel)\//;
/**
 * The cluster's own modules: the registry (but its file-system face, src/registry/file.ts, which
 * the local client's effects go through), and the client's and daemon's cluster parts that load it.
 */
const CLUSTER_CODE = /^src\/(registry\/(?!file\.js$)|client\/cluster-(session|starter|reach|terminate)\.js)/;

/** The `loaded <url>` lines of `text`, as paths relative to dist/ (or node_modules/<pkg>). */
function loaded(text: string): string[] {
  return [...text.matchAll(/^loaded (\S+)$/gm)].map((m) => m[1]!.replace(DIST, '').replace(/^.*\/node_modules\//, 'node_modules/'));
}

describe('where the etcd client loads', () => {
  it.each(['src/index.js', 'src/events.js', 'src/daemon/public.js'])('importing %s loads no etcd client', async (entry) => {
    const { stderr } = await run(process.execPath, ['--import', TRACE, '-e', `import(${JSON.stringify(new URL(entry, DIST).href)})`]);
    const files = loaded(stderr);
    expect(files).toContain(entry);
    expect(files.filter((f) => ETCD_CLIENT.test(f))).toEqual([]);
    expect(files.filter((f) => f.startsWith('src/registry/'))).toEqual([]);
  });

  it('a local start and call load no cluster code and no etcd client, in the client or in the daemon', async () => {
    const runtimeDir = freshRoot();
    const script = `import(${JSON.stringify(DIST_INDEX)}).then(async (m) => { const s = m.localSingleton('entries', ${JSON.stringify(COUNTER)}, { runtimeDir: ${JSON.stringify(runtimeDir)} }); const c = await s.proxy(); await c.inc(); await m.closeRemote(c); })`;
    onTestFinished(() => localSingleton('entries', COUNTER, { runtimeDir }).shutdown({ force: true }));
    const client = await run(process.execPath, ['--import', TRACE, '-e', script], {
      env: { ...process.env, LOOPBACK_SINGLETON_DAEMON_ARGS: `--import ${TRACE}` },
    });
    const clientFiles = loaded(client.stderr);
    const daemonFiles = loaded(readFileSync(join(runtimeDir, 'entries', 'daemon.log'), 'utf8'));
    expect(clientFiles).toContain('src/client/starter.js');
    // The local start's discovery and lock go through the registry on the runtime files, and only it.
    expect(clientFiles.filter((f) => f.startsWith('src/registry/'))).toEqual(['src/registry/file.js']);
    expect(daemonFiles).toContain('src/daemon/serve.js');
    for (const files of [clientFiles, daemonFiles]) {
      expect(files.filter((f) => ETCD_CLIENT.test(f) || CLUSTER_CODE.test(f))).toEqual([]);
    }
  });

  it('the cluster registry module loads etcd3 when a registry is opened, not when it is imported', async () => {
    const script = `
      const m = await import(${JSON.stringify(new URL('src/registry/etcd.js', DIST).href)});
      process.stderr.write('--- opening\\n');
      // Port 1: nothing listens, and nothing is asked: opening connects lazily.
      const registry = await m.openEtcdRegistry({ endpoints: { kind: 'etcd', hosts: ['http://127.0.0.1:1'], text: 'etcd://127.0.0.1:1' }, name: 'entries' });
      await registry.close();
    `;
    const { stderr } = await run(process.execPath, ['--import', TRACE, '--input-type=module', '-e', script]);
    const [imported = '', opened = ''] = stderr.split('--- opening\n');
    expect(loaded(imported)).toContain('src/registry/etcd.js');
    expect(loaded(imported).filter((f) => ETCD_CLIENT.test(f))).toEqual([]);
    // etcd3 is CommonJS: its own require()s (gRPC...) pass the hook only on Node 22+, its entry everywhere.
    expect(loaded(opened)).toContain('node_modules/etcd3/lib/index.js');
  });
});
