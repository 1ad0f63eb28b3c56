import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { closeRemote, HandshakeError, localSingleton } from '../../dist/src/index.js';
import { readMetadata } from '../../dist/src/runtime/metadata.js';
import { PROTOCOL_VERSION } from '../../dist/src/version.js';
import { daemonConfig, freshRoot, isAlive, spawnDaemon, waitForExit } from '../support/daemon.js';
import { COUNTER, service } from '../support/clients.js';
import { inject } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

/** A copy of the built package whose daemon and client speak protocol `version`. */
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
    // Start the daemon from a package that speaks protocol 1 (the version before values
    // crossed as they are, docs/PROTOCOL.md), over the same runtime dir.
    const other = packageSpeaking(1);
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
    expect((await svc.ping()).protocolVersion).toBe(PROTOCOL_VERSION);
    await svc.shutdown();
  });
});

describe('a client of protocol 1', () => {
  it('gets a signed refusal from a protocol-2 daemon, which goes on serving its own clients', async () => {
    expect(PROTOCOL_VERSION).toBe(2);
    const svc = service<{ inc(): number }>();
    const proxy = await svc.proxy();
    expect(await proxy.inc()).toBe(1);
    const { pid } = await svc.ping();

    const old = packageSpeaking(1);
    const v1 = (await import(pathToFileURL(join(old, 'dist', 'src', 'index.js')).href)) as typeof import('../../dist/src/index.js');
    const oldClient = v1.localSingleton('svc', COUNTER, { runtimeDir: dirname(svc.paths.dir), startTimeoutMs: 20_000 });
    const error = (await oldClient.proxy().catch((e: unknown) => e)) as InstanceType<typeof v1.HandshakeError>;
    // The old client's own class: it believed the refusal because the daemon signed it.
    expect(error).toBeInstanceOf(v1.HandshakeError);
    expect(error.code).toBe('ERR_PROTOCOL_VERSION');
    expect(error.daemonPid).toBe(pid);
    expect(error.message).toContain(`(pid ${pid}) speaks protocol 2; this client speaks 1`);

    // Not replaced, not disturbed: the same daemon and object answer the new client.
    const read = readMetadata(svc.paths.metadata);
    expect(read.status === 'valid' && read.metadata.pid).toBe(pid);
    expect(await proxy.inc()).toBe(2);
    await closeRemote(proxy);
  });
});
