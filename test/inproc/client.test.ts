/**
 * The public API against a daemon served in this process (test/support/in-process.ts): the
 * client's start (standby, spawn lock, spawn, boot report), connection, handshake, calls and
 * shutdown, and the daemon's boot, mailbox, replies and drain, all from src/, over real
 * sockets. What only real processes show stays in test/integration/client.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { closeRemote, withCallOptions } from '../../src/client/proxy.js';
import { localSingleton, type LocalSingletonService } from '../../src/client/service.js';
import {
  DaemonConnectionError,
  FactoryError,
  FactoryMismatchError,
  LoopbackSingletonError,
  MailboxFullError,
  MethodNotAllowedError,
  ProtocolError,
  RemoteError,
} from '../../src/errors.js';
import { readMetadata } from '../../src/runtime/metadata.js';
import type { LocalSingletonOptions } from '../../src/options.js';
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '../../src/version.js';
import { openGate } from '../fixtures/services.mjs';
import { daemons, makeRoot, removeRoot, SERVICES, spawned, stopInProcessDaemons } from '../support/in-process.js';

vi.mock('../../src/client/daemon-process.js', async (load) => ({
  ...(await load<typeof import('../../src/client/daemon-process.js')>()),
  spawnDaemonProcess: (await import('../support/in-process.js')).spawnInProcess,
}));

interface Counter {
  inc(): number;
  get(): number;
  ping(): string;
  hold<T>(ms: number, tag: T): Promise<T>;
  gated<T>(name: string, tag: T): Promise<T>;
  echo<T>(value: T): T;
  fail(message: string, code?: string): never;
  _secret(): string;
}

let root: string;
beforeEach(() => {
  root = makeRoot();
});
afterEach(async () => {
  await stopInProcessDaemons();
  removeRoot(root);
});

function service<T = Counter>(options: LocalSingletonOptions = {}, factory = `${SERVICES}:Counter`, name = 'svc'): LocalSingletonService<T> {
  return localSingleton<T>(name, factory, { runtimeDir: root, ...options });
}

/**
 * `shutdown()` waits for the daemon's process to exit, and this one is the test's: it is
 * given a signal that aborts once the in-process daemon has ended. Resolves with what the
 * shutdown threw (the abort) and how the daemon ended.
 */
async function shutdownInProcess(svc: LocalSingletonService<unknown>, force = false): Promise<{ thrown: unknown; outcome: string }> {
  const child = daemons().at(-1)!;
  const controller = new AbortController();
  const done = svc.shutdown({ force, signal: controller.signal }).catch((error: unknown) => error);
  const outcome = await child.outcome!;
  controller.abort(new Error('the in-process daemon ended'));
  return { thrown: await done, outcome };
}

describe('a daemon served in this process', () => {
  it('a cold start spawns one daemon with the plan as its config, publishes its record and answers calls', async () => {
    const svc = service({ args: [10, { step: 2 }], idleTtlMs: 60_000 });
    const counter = await svc.proxy();
    expect(await counter.inc()).toBe(12);
    expect(await counter.ping()).toBe('pong');
    // One process stood by, and became the daemon: no second spawn.
    expect(spawned).toHaveLength(1);
    const [child] = daemons();
    expect(child!.config).toMatchObject({ name: 'svc', startReason: 'first', transport: 'tcp', idleTtlMs: 60_000, budgetFromConfig: true });
    expect(child!.reports).toEqual([{ t: 'ready', metadata: expect.objectContaining({ pid: process.pid, transport: 'tcp', host: '127.0.0.1' }) }]);
    const read = readMetadata(svc.paths.metadata);
    expect(read.status).toBe('valid');
    if (read.status === 'valid') {
      expect(read.metadata).toMatchObject({ pid: process.pid, protocolVersion: PROTOCOL_VERSION, packageVersion: PACKAGE_VERSION });
      expect(read.metadata.instanceId).toMatch(/^[0-9a-f]{32}$/);
    }
    const info = await svc.ping();
    expect(info).toMatchObject({ transport: 'tcp', protocolVersion: PROTOCOL_VERSION, state: { serving: 'busy' }, active: 2, callsServed: 2, idleTtlMs: 60_000 });
    expect(info.rssBytes).toBeGreaterThan(0);
    await closeRemote(counter);
    expect(readFileSync(svc.paths.log, 'utf8')).toMatch(/ready: svc on 127\.0\.0\.1:\d+ \(factoryId [0-9a-f]{32}\)/);
  });

  it('a second service finds the running daemon, and calls on one proxy resolve in issue order', async () => {
    const first = await service().proxy();
    const second = await service().proxy();
    const ones = Promise.all(Array.from({ length: 10 }, () => first.inc()));
    const others = Promise.all(Array.from({ length: 10 }, () => second.inc()));
    const [a, b] = await Promise.all([ones, others]);
    // Each proxy's calls run in its issue order, all of them one at a time on one object.
    expect(a).toEqual([...a].sort((x, y) => x - y));
    expect(b).toEqual([...b].sort((x, y) => x - y));
    expect([...a, ...b].sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(daemons()).toHaveLength(1);
    await closeRemote(first);
    await closeRemote(second);
  });

  it('private and unknown members reject with MethodNotAllowedError and never touch the object', async () => {
    const counter = await service().proxy();
    const loose = counter as unknown as Record<string, () => Promise<unknown>>;
    for (const name of ['_secret', 'constructor', 'toString', 'nope', 'value']) {
      const error = await loose[name]!().catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(MethodNotAllowedError);
      expect((error as MethodNotAllowedError).code).toBe('ERR_METHOD_NOT_ALLOWED');
      expect((error as Error).message).toContain(name);
    }
    expect(await counter.get()).toBe(0);
    await closeRemote(counter);
  });

  it('a throw in the hosted method is a RemoteError with the remote name, message, code and stack', async () => {
    const counter = await service().proxy();
    const error = (await counter.fail('bad input', 'E_BAD').catch((e: unknown) => e)) as RemoteError;
    expect(error).toBeInstanceOf(RemoteError);
    expect(error).toMatchObject({ code: 'ERR_REMOTE', remoteName: 'TypeError', remoteMessage: 'bad input', remoteCode: 'E_BAD' });
    expect(error.remoteStack).toContain('services.mjs');
    expect(await counter.inc()).toBe(1);
    await closeRemote(counter);
  });

  it('a payload over maxFrameBytes throws ProtocolError before writing, and the proxy stays usable', async () => {
    const counter = await service({ maxFrameBytes: 64 * 1024 }).proxy();
    const error = await counter.echo(new Uint8Array(128 * 1024)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe('ERR_FRAME_TOO_LARGE');
    expect(await counter.echo({ a: [1, 'two', null] })).toEqual({ a: [1, 'two', null] });
    await closeRemote(counter);
  });

  it('MailboxFullError when maxQueuedCalls calls already wait', async () => {
    const svc = service({ maxQueuedCalls: 1 });
    const counter = await svc.proxy();
    // Runs until the test opens its gate: the next two calls arrive while it runs.
    const running = counter.gated('full', 'running');
    while ((await svc.ping()).running === 0);
    const waiting = counter.hold(1, 'waiting');
    const refused = await counter.inc().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MailboxFullError);
    expect((refused as MailboxFullError).code).toBe('ERR_MAILBOX_FULL');
    openGate('full');
    expect(await Promise.all([running, waiting])).toEqual(['running', 'waiting']);
    await closeRemote(counter);
  });

  it('callTimeoutMs rejects the caller with ERR_CALL_TIMEOUT; an aborted call rejects with its reason', async () => {
    const svc = service({ callTimeoutMs: 50 });
    const counter = await svc.proxy();
    const slow = await counter.hold(300, 'late').catch((e: unknown) => e);
    expect(slow).toBeInstanceOf(LoopbackSingletonError);
    expect((slow as LoopbackSingletonError).code).toBe('ERR_CALL_TIMEOUT');
    const controller = new AbortController();
    const pending = withCallOptions(counter, { signal: controller.signal, timeoutMs: 5000 }).hold(200, 'x');
    controller.abort(new Error('user gave up'));
    await expect(pending).rejects.toThrow('user gave up');
    const already = await withCallOptions(counter, { signal: AbortSignal.abort() })
      .inc()
      .catch((e: unknown) => e);
    expect((already as Error).name).toBe('AbortError');
    expect(await withCallOptions(counter, { timeoutMs: 5000 }).get()).toBe(0);
    await closeRemote(counter);
  });

  it("a factory that throws fails the start with the daemon's own message and stack, and leaves no record", async () => {
    const svc = service({}, `${SERVICES}:Throws`);
    const error = (await svc.proxy().catch((e: unknown) => e)) as FactoryError;
    expect(error).toBeInstanceOf(FactoryError);
    expect(error.code).toBe('ERR_FACTORY');
    expect(error.message).toBe('constructor refused: bad configuration');
    expect(error.remoteStack).toContain('services.mjs');
    expect(existsSync(svc.paths.metadata)).toBe(false);
    expect(await daemons()[0]!.outcome).toBe('failed');
    expect(daemons()[0]!.reports).toEqual([{ t: 'failed', error: expect.objectContaining({ code: 'ERR_FACTORY' }) }]);
  });

  it('a missing export fails the start with a FactoryError naming the exports', async () => {
    const error = (await service({}, `${SERVICES}:Nope`)
      .ensureStarted()
      .catch((e: unknown) => e)) as FactoryError;
    expect(error).toBeInstanceOf(FactoryError);
    expect(error.message).toContain('has no export "Nope"; its exports are: ');
    expect(error.message).toContain('Counter');
  });

  it('FactoryMismatchError when the running daemon has other args; the same factory spelled another way connects', async () => {
    const first = localSingleton('shared', `${SERVICES}:Counter`, { runtimeDir: root, args: [1] });
    const other = localSingleton('shared', `${SERVICES}:Counter`, { runtimeDir: root, args: [2] });
    const same = localSingleton('shared', { module: new URL(SERVICES), export: 'Counter' }, { runtimeDir: root, args: [1] });
    const { instanceId } = await first.ping();
    const error = await other.proxy().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FactoryMismatchError);
    expect((error as FactoryMismatchError).code).toBe('ERR_FACTORY_MISMATCH');
    expect((error as Error).message).toContain('shutdown');
    expect((await same.ping()).instanceId).toBe(instanceId);
  });

  it('a graceful shutdown answers every accepted call, unpublishes and stops the daemon', async () => {
    const svc = service();
    const counter = await svc.proxy();
    const accepted = Array.from({ length: 5 }, (_, i) => counter.hold(5, i));
    await svc.ping();
    const { outcome } = await shutdownInProcess(svc);
    expect(outcome).toBe('stopped');
    expect(await Promise.all(accepted)).toEqual([0, 1, 2, 3, 4]);
    expect(existsSync(svc.paths.metadata)).toBe(false);
    const after = await counter.inc().catch((e: unknown) => e);
    expect(after).toBeInstanceOf(DaemonConnectionError);
    expect(readFileSync(svc.paths.log, 'utf8')).toMatch(/state .*draining/);
  });

  it('a forced shutdown rejects the queued calls with ERR_SHUTDOWN_FORCED and lets the running one finish', async () => {
    const svc = service();
    const counter = await svc.proxy();
    // Runs until the test opens its gate: the forced shutdown comes while it runs.
    const running = counter.gated('forced', 'running').catch((e: unknown) => e);
    const queued = Array.from({ length: 3 }, () => counter.inc().catch((e: unknown) => e));
    await vi.waitFor(async () => expect(await svc.ping()).toMatchObject({ running: 1, queued: 3 }), { timeout: 10_000 });
    const stopping = shutdownInProcess(svc, true);
    for (const result of await Promise.all(queued)) expect((result as LoopbackSingletonError).code).toBe('ERR_SHUTDOWN_FORCED');
    // The queued calls were refused while it still ran; now it ends, within the force grace.
    openGate('forced');
    const { outcome } = await stopping;
    expect(outcome).toBe('stopped');
    expect(await running).toBe('running');
  });

  it('a graceful drain its deadline cuts stops the daemon with the running and the queued calls abandoned, and its log names them', async () => {
    const svc = service({ drainTimeoutMs: 200 });
    const counter = await svc.proxy();
    // Runs until the test opens its gate: the drain deadline passes while it runs.
    const running = counter.gated('abandoned', 'running').catch((e: unknown) => e);
    const queued = [counter.inc().catch((e: unknown) => e), counter.inc().catch((e: unknown) => e)];
    await vi.waitFor(async () => expect(await svc.ping()).toMatchObject({ running: 1, queued: 2 }), { timeout: 10_000 });
    const { outcome } = await shutdownInProcess(svc);
    expect(outcome).toBe('stopped');
    expect(readFileSync(svc.paths.log, 'utf8')).toContain(
      'drain deadline passed (drainTimeoutMs 200 ms): exiting with 1 running call (gated) and 2 queued call(s) abandoned; their callers get ERR_DAEMON_LOST',
    );
    expect(existsSync(svc.paths.metadata)).toBe(false);
    // A daemon process exits here and its callers get ERR_DAEMON_LOST (test/integration/drain.test.ts);
    // this one's process is the test's, so its calls are let go to settle.
    openGate('abandoned');
    await Promise.all([running, ...queued]);
  });

  it('shutdown() with no daemon running resolves and writes nothing', async () => {
    const svc = service();
    await svc.shutdown();
    await svc.shutdown({ force: true });
    expect(existsSync(svc.paths.metadata)).toBe(false);
    expect(spawned).toHaveLength(0);
  });

  it('transport ipc: the daemon listens on a socket in its runtime dir', async () => {
    const svc = service({ transport: 'ipc' });
    const counter = await svc.proxy();
    expect(await counter.inc()).toBe(1);
    const info = await svc.ping();
    expect(info.transport).toBe('ipc');
    expect(info.address.startsWith(svc.paths.dir)).toBe(true);
    expect(existsSync(info.address)).toBe(true);
    await closeRemote(counter);
    await shutdownInProcess(svc);
    expect(existsSync(info.address)).toBe(false);
  });
});
