import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { HandshakeError, localSingleton } from '../../dist/src/index.js';
import { readMetadata } from '../../dist/src/runtime/metadata.js';
import { daemonConfig, freshRoot, isAlive, spawnDaemon, waitForExit } from '../support/daemon.js';
import { COUNTER } from '../support/clients.js';
import { inject } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

/** A copy of the built package whose daemon speaks protocol `version`. */
function packageSpeaking(version: number): string {
  const copy = mkdtempSync(join(inject('suiteRoot'), 'pkg-'));
  cpSync(join(ROOT, 'dist'), join(copy, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'package.json'), join(copy, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  const versionFile = join(copy, 'dist', 'src', 'version.js');
  writeFileSync(versionFile, readFileSync(versionFile, 'utf8').replace(/PROTOCOL_VERSION = \d+/, `PROTOCOL_VERSION = ${version}`));
  onTestFinished(() => rmSync(copy, { recursive: true, force: true }));
  return copy;
}

describe('a daemon of another protocol version', () => {
  it('is reported as such (not replaced), and shutdown() still stops it', async () => {
    const root = freshRoot();
    const svc = localSingleton('svc', COUNTER, { runtimeDir: root });
    // Start the daemon from a package that speaks protocol 2, over the same runtime dir.
    const other = packageSpeaking(2);
    const { launchDaemon } = (await import(pathToFileURL(join(other, 'dist', 'src', 'client', 'spawn.js')).href)) as typeof import('../../dist/src/client/spawn.js');
    const { ensurePrivateDir } = await import('../../dist/src/runtime/dir.js');
    ensurePrivateDir(svc.paths.dir);
    const { pid } = await spawnDaemon(daemonConfig(svc.paths, { factoryId: 'whatever' }), 15_000, launchDaemon);
    onTestFinished(async () => {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      await waitForExit(pid);
    });

    const error = (await svc.proxy().catch((e: unknown) => e)) as HandshakeError;
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error.code).toBe('ERR_PROTOCOL_VERSION');
    expect(error.daemonPid).toBe(pid);
    expect(error.message).toContain('shutdown()');
    // It was believed (the refusal is signed with the token), so nothing replaced the daemon.
    const read = readMetadata(svc.paths.metadata);
    expect(read.status === 'valid' && read.metadata.pid).toBe(pid);

    await svc.shutdown();
    expect(isAlive(pid)).toBe(false);
    expect(readMetadata(svc.paths.metadata).status).toBe('absent');
    // One call away from a daemon of this version.
    expect((await svc.ping()).protocolVersion).toBe(1);
    await svc.shutdown();
  });
});
