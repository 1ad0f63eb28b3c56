/**
 * What a client does with what it finds on disk, against daemons served in this process
 * (test/support/in-process.ts): a live daemon that never answers, one that drains, a dead
 * daemon's record, a malformed one, a token that is not private. The real-process versions
 * (SIGSTOP, SIGKILL, libfaketime) are test/integration/.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { localSingleton } from '../../src/client/service.js';
import { readMetadata, writeMetadata } from '../../src/runtime/metadata.js';
import { processStartTime } from '../../src/runtime/process.js';
import type { DaemonMetadata } from '../../src/types.js';
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '../../src/version.js';
import { daemons, makeRoot, removeRoot, SERVICES, spawned, stopInProcessDaemons } from '../support/in-process.js';

vi.mock('../../src/client/daemon-process.js', async (load) => ({
  ...(await load<typeof import('../../src/client/daemon-process.js')>()),
  spawnDaemonProcess: (await import('../support/in-process.js')).spawnInProcess,
}));

let root: string;
let silent: Server | undefined;
const sockets = new Set<Socket>();
beforeEach(() => {
  root = makeRoot('lbs-faults-');
});
afterEach(async () => {
  for (const socket of sockets) socket.destroy();
  sockets.clear();
  await new Promise<void>((resolve) => (silent ? silent.close(() => resolve()) : resolve()));
  silent = undefined;
  await stopInProcessDaemons();
  removeRoot(root);
});

function service(options: { startTimeoutMs?: number } = {}) {
  return localSingleton<{ inc(): number }>('svc', `${SERVICES}:Counter`, { runtimeDir: root, connectTimeoutMs: 100, ...options });
}

/** A listener that accepts and never says a word: a daemon whose event loop is held. */
async function silentListener(): Promise<number> {
  silent = createServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => silent!.listen(0, '127.0.0.1', resolve));
  return (silent.address() as { port: number }).port;
}

/** A record naming this (live) process, as a daemon writes it. */
function recordOf(port: number, extra: Partial<DaemonMetadata> = {}): DaemonMetadata {
  const startTime = processStartTime(process.pid);
  return {
    pid: process.pid,
    instanceId: 'a'.repeat(32),
    transport: 'tcp',
    host: '127.0.0.1',
    port,
    protocolVersion: PROTOCOL_VERSION,
    packageVersion: PACKAGE_VERSION,
    factoryId: 'f'.repeat(32),
    startedAt: Date.now(),
    ...(startTime === undefined ? {} : { startTime }),
    ...extra,
  };
}

function write(svc: ReturnType<typeof service>, metadata: DaemonMetadata): void {
  mkdirSync(svc.paths.dir, { recursive: true, mode: 0o700 });
  writeMetadata(svc.paths.metadata, metadata);
}

describe('a client meets', () => {
  it('a live daemon that never answers: ERR_DAEMON_UNRESPONSIVE saying it was left running; nothing spawned, the record kept', async () => {
    const svc = service({ startTimeoutMs: 600 });
    const record = recordOf(await silentListener());
    write(svc, record);
    const error = (await svc.proxy().catch((e: unknown) => e)) as Error & { code: string };
    expect(error.code).toBe('ERR_DAEMON_UNRESPONSIVE');
    expect(error.message).toMatch(new RegExp(`^The daemon "svc" \\(pid ${process.pid}\\) is running but did not complete a handshake`));
    // Tried and waited (one or more handshakes timed out), or still in its first handshake at the deadline.
    expect(error.message).toMatch(/(; tried \d+ time\(s\) within startTimeoutMs \(600 ms\)| within startTimeoutMs \(600 ms\))\. It was left running, with its state\./);
    expect(error.message).toContain(`stop it with \`loopback-singleton stop svc --force\`. See ${svc.paths.log}`);
    expect(spawned).toHaveLength(0);
    expect(readMetadata(svc.paths.metadata)).toEqual({ status: 'valid', metadata: record });
  });

  it('a live daemon that drains: ERR_DAEMON_UNRESPONSIVE once the budget is spent waiting for its exit; none started beside it', async () => {
    const svc = service({ startTimeoutMs: 300 });
    write(svc, recordOf(await silentListener(), { draining: true }));
    const error = (await svc.proxy().catch((e: unknown) => e)) as Error & { code: string };
    expect(error.code).toBe('ERR_DAEMON_UNRESPONSIVE');
    expect(error.message).toBe(
      `The daemon "svc" (pid ${process.pid}) is draining: it accepts nothing new and exits within its drain deadline; it did not exit within startTimeoutMs (300 ms), ` +
        'and no daemon is started beside it. Raise startTimeoutMs above its drainTimeoutMs, or stop it with `loopback-singleton stop svc --force`. ' +
        `See ${svc.paths.log}`,
    );
    expect(spawned).toHaveLength(0);
  });

  it("a dead daemon's record: cleaned under the lock and replaced by a daemon started as a restart", async () => {
    const svc = service();
    // A pid that certainly ran and is gone.
    const dead = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }));
    write(svc, { ...recordOf(1), pid: dead, instanceId: 'd'.repeat(32) });
    const counter = await svc.proxy();
    expect(await counter.inc()).toBe(1);
    expect(daemons()).toHaveLength(1);
    expect(daemons()[0]!.config!.startReason).toBe('restart');
    const read = readMetadata(svc.paths.metadata);
    expect(read.status === 'valid' && read.metadata.instanceId).not.toBe('d'.repeat(32));
    expect(read.status === 'valid' && read.metadata.pid).toBe(process.pid);
  });

  it('a malformed record: replaced by a daemon started as a restart', async () => {
    const svc = service();
    mkdirSync(svc.paths.dir, { recursive: true, mode: 0o700 });
    writeFileSync(svc.paths.metadata, '{"pid": 12', { mode: 0o600 });
    await svc.ensureStarted();
    expect(daemons()[0]!.config!.startReason).toBe('restart');
    expect(readMetadata(svc.paths.metadata).status).toBe('valid');
  });

  it('a token file that is not private fails a cold start with ERR_LOOPBACK_SINGLETON saying what to do, and leaves no record', async () => {
    const svc = service();
    mkdirSync(svc.paths.dir, { recursive: true, mode: 0o700 });
    writeFileSync(svc.paths.token, 'a'.repeat(64), { mode: 0o644 });
    chmodSync(svc.paths.token, 0o644);
    const error = (await svc.proxy().catch((e: unknown) => e)) as Error & { code: string };
    expect(error.code).toBe('ERR_LOOPBACK_SINGLETON');
    expect(error.message).toContain('delete the file so a new one is made');
    expect(existsSync(svc.paths.metadata)).toBe(false);
    expect(await daemons()[0]!.outcome).toBe('failed');
  });

  it("onMismatch 'replace' asks the running daemon of another factory to drain, and starts none beside it while its process lives", async () => {
    const first = localSingleton('shared', `${SERVICES}:Counter`, { runtimeDir: root, args: [1] });
    await first.ensureStarted();
    const [old] = daemons();
    const replacing = localSingleton('shared', `${SERVICES}:Counter`, { runtimeDir: root, args: [2], onMismatch: 'replace', startTimeoutMs: 800 });
    const error = (await replacing.proxy().catch((e: unknown) => e)) as Error & { code: string };
    // The old daemon drained as asked (not killed); its process (this one) never exits, so the
    // start budget ran out waiting for it.
    expect(await old!.outcome).toBe('stopped');
    expect(old!.signals).toEqual([]);
    expect(error.code).toBe('ERR_CONNECTION_FAILED');
    expect(error.message).toMatch(
      /^Could not start or reach the daemon "shared" within 800 ms \(stuck in \{"locked":"replacing"\}; metadata: pid \d+; it runs another factory: replacing it/,
    );
    expect(daemons()).toHaveLength(1);
  });

  it('a factory that never returns: the start fails within its budget naming the step, and the daemon is stopped', async () => {
    const hangs = new URL('../fixtures/hangs.mjs', import.meta.url).href;
    const svc = localSingleton('stuck', `${hangs}:never`, { runtimeDir: root, startTimeoutMs: 500 });
    const error = (await svc.proxy().catch((e: unknown) => e)) as Error & { code: string };
    // The daemon's boot deadline and its spawner's are the same budget: either tells.
    expect(['ERR_FACTORY', 'ERR_CONNECTION_FAILED']).toContain(error.code);
    expect(error.message).toMatch(/the factory is hanging|was still starting \(creating the object: the factory had not returned/);
    expect(await daemons()[0]!.outcome).toBe('failed');
    expect(existsSync(svc.paths.metadata)).toBe(false);
  });
});
