import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  closeRemote,
  DaemonConnectionError,
  FactoryError,
  FactoryMismatchError,
  localSingleton,
  LoopbackSingletonError,
  MailboxFullError,
  MethodNotAllowedError,
  ProtocolError,
  RemoteError,
  withCallOptions,
} from '../../dist/src/index.js';
import { FIXTURES, freshRoot, isAlive, SERVICES_URL, waitForExit } from '../support/daemon.js';
import { service } from '../support/clients.js';
import { ensurePrivateDir } from '../../dist/src/runtime/dir.js';
import { sleep } from '../support/wait.js';
import { PROTOCOL_VERSION } from '../../dist/src/version.js';

interface Counter {
  value: number;
  inc(): number;
  get(): number;
  ping(): string;
  slowInc(ms?: number): Promise<number>;
  hold<T>(ms: number, tag: T): Promise<T>;
  echo<T>(value: T): T;
  fail(message: string, code?: string): never;
  _secret(): string;
}

describe('localSingleton and its proxy', () => {
  it('the quick start: a class with args, methods returning promises', async () => {
    const svc = service<Counter>({ args: [10, { step: 2 }] });
    const counter = await svc.proxy();
    expect(await counter.inc()).toBe(12);
    expect(await counter.ping()).toBe('pong');
    await closeRemote(counter);
    const info = await svc.ping();
    expect(info).toMatchObject({ transport: 'tcp', protocolVersion: PROTOCOL_VERSION, state: { serving: 'busy' } });
    expect(info.pid).not.toBe(process.pid);
  });

  it('100 un-awaited calls on one proxy resolve in issue order', async () => {
    const counter = await service<Counter>().proxy();
    const results = await Promise.all(Array.from({ length: 100 }, () => counter.inc()));
    expect(results).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    await closeRemote(counter);
  });

  it('is not thenable, is async-disposable, and forwards plain names like close', async () => {
    const svc = service<{ close(): string; dispose(): string }>({}, `${SERVICES_URL}:Plain`);
    const plain = await svc.proxy();
    expect(await plain).toBe(plain);
    expect((plain as unknown as { then: unknown }).then).toBeUndefined();
    expect(await plain.close()).toBe('closed-by-hosted-method');
    expect(await plain.dispose()).toBe('disposed-by-hosted-method');
    expect(typeof plain[Symbol.asyncDispose]).toBe('function');
    await plain[Symbol.asyncDispose]();
    const after = await (plain.close() as Promise<unknown>).catch((e: unknown) => e);
    expect(after).toBeInstanceOf(DaemonConnectionError);
  });

  it('private and unknown members reject with MethodNotAllowedError and never touch the object', async () => {
    const counter = await service<Counter>().proxy();
    const loose = counter as unknown as Record<string, () => Promise<unknown>>;
    for (const name of ['_secret', 'constructor', 'toString', 'hasOwnProperty', 'nope', 'value']) {
      const error = await loose[name]!().catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(MethodNotAllowedError);
      expect((error as MethodNotAllowedError).code).toBe('ERR_METHOD_NOT_ALLOWED');
    }
    expect(await counter.get()).toBe(0);
    await closeRemote(counter);
  });

  it('a throw in the hosted method is a RemoteError with the remote stack', async () => {
    const counter = await service<Counter>().proxy();
    const error = (await counter.fail('bad input', 'E_BAD').catch((e: unknown) => e)) as RemoteError;
    expect(error).toBeInstanceOf(RemoteError);
    expect(error).toBeInstanceOf(LoopbackSingletonError);
    expect(error).toMatchObject({ code: 'ERR_REMOTE', remoteName: 'TypeError', remoteMessage: 'bad input', remoteCode: 'E_BAD' });
    expect(error.remoteStack).toContain('services.mjs');
    expect(await counter.inc()).toBe(1);
    await closeRemote(counter);
  });

  it('a payload over maxFrameBytes throws ProtocolError before writing, and the proxy stays usable', async () => {
    const counter = await service<Counter>({ maxFrameBytes: 64 * 1024 }).proxy();
    const error = await counter.echo(new Uint8Array(128 * 1024)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe('ERR_FRAME_TOO_LARGE');
    expect(await counter.inc()).toBe(1);
    await closeRemote(counter);
  });

  it('a client never sends more than the running daemon accepts (its cap comes from the daemon)', async () => {
    const root = freshRoot();
    const small = localSingleton<Counter>('capped', `${SERVICES_URL}:Counter`, { runtimeDir: root, maxFrameBytes: 64 * 1024 });
    onTestFinished(() => small.shutdown({ force: true }));
    await small.ensureStarted(); // this client starts the daemon: its cap is 64 KiB
    const roomy = await localSingleton<Counter>('capped', `${SERVICES_URL}:Counter`, { runtimeDir: root }).proxy();
    const inFlight = roomy.hold(200, 'kept');
    const error = await roomy.echo(new Uint8Array(128 * 1024)).catch((e: unknown) => e);
    expect((error as ProtocolError).code).toBe('ERR_FRAME_TOO_LARGE');
    expect(await inFlight).toBe('kept'); // the connection was not closed under it
    await closeRemote(roomy);
  });

  it('MailboxFullError when maxQueuedCalls calls are already waiting', async () => {
    const svc = service<Counter>({ maxQueuedCalls: 1 });
    const counter = await svc.proxy();
    // Long enough that the next two calls arrive while it runs, on a loaded machine too.
    const running = counter.hold(3000, 'running');
    while ((await svc.ping()).running === 0) await sleep(10);
    const waiting = counter.hold(1, 'waiting');
    const refused = await counter.inc().catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MailboxFullError);
    expect(await Promise.all([running, waiting])).toEqual(['running', 'waiting']);
    await closeRemote(counter);
  });

  it('callTimeoutMs rejects the caller without breaking one-at-a-time execution', async () => {
    const svc = service<Counter>({ callTimeoutMs: 100 });
    const counter = await svc.proxy();
    const slow = await counter.hold(400, 'late').catch((e: unknown) => e);
    expect(slow).toBeInstanceOf(LoopbackSingletonError);
    expect((slow as LoopbackSingletonError).code).toBe('ERR_CALL_TIMEOUT');
    // The timed-out call still runs to completion before the next one starts.
    const patient = withCallOptions(counter, { timeoutMs: 5000 });
    expect(await patient.slowInc(1)).toBe(1);
    expect((await svc.ping()).callsServed).toBe(2);
    await closeRemote(counter);
  });

  it('a per-call AbortSignal rejects that caller with the abort reason', async () => {
    const counter = await service<Counter>().proxy();
    const controller = new AbortController();
    const pending = withCallOptions(counter, { signal: controller.signal }).hold(300, 'x');
    controller.abort(new Error('user gave up'));
    await expect(pending).rejects.toThrow('user gave up');
    const already = await withCallOptions(counter, { signal: AbortSignal.abort() })
      .inc()
      .catch((e: unknown) => e);
    expect((already as Error).name).toBe('AbortError');
    expect(await counter.get()).toBe(0); // the pre-aborted call was never sent
    await closeRemote(counter);
  });

  it('losing the daemon rejects every pending call with DaemonConnectionError (no hang)', async () => {
    const svc = service<Counter>();
    const counter = await svc.proxy();
    const { pid } = await svc.ping();
    const pending = [counter.hold(5000, 'a'), counter.inc(), counter.inc()].map((p) => p.catch((e: unknown) => e));
    await sleep(50);
    process.kill(pid, 'SIGKILL');
    for (const outcome of await Promise.all(pending)) {
      expect(outcome).toBeInstanceOf(DaemonConnectionError);
      expect((outcome as DaemonConnectionError).code).toBe('ERR_DAEMON_LOST');
    }
    await waitForExit(pid);
  });

  it("FactoryError carries the daemon's own message and stack", async () => {
    const svc = service({}, `${SERVICES_URL}:Throws`);
    const error = (await svc.proxy().catch((e: unknown) => e)) as FactoryError;
    expect(error).toBeInstanceOf(FactoryError);
    expect(error.code).toBe('ERR_FACTORY');
    expect(error.message).toBe('constructor refused: bad configuration');
    expect(error.remoteStack).toContain('services.mjs');
    expect(existsSync(svc.paths.metadata)).toBe(false);

    const importFails = service({}, pathToFileURL(join(FIXTURES, 'import-fails.mjs')).href);
    await expect(importFails.ensureStarted()).rejects.toBeInstanceOf(FactoryError);
  });

  it('FactoryMismatchError when the running daemon has other args; shutdown() still stops it', async () => {
    const root = freshRoot();
    const first = localSingleton('shared', `${SERVICES_URL}:Counter`, { runtimeDir: root, args: [1] });
    const other = localSingleton('shared', `${SERVICES_URL}:Counter`, { runtimeDir: root, args: [2] });
    const same = localSingleton('shared', { module: new URL(SERVICES_URL), export: 'Counter' }, { runtimeDir: root, args: [1] });
    const { pid } = await first.ping();
    const error = await other.proxy().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FactoryMismatchError);
    expect((error as FactoryMismatchError).code).toBe('ERR_FACTORY_MISMATCH');
    expect((error as Error).message).toContain('shutdown');
    expect((await same.ping()).pid).toBe(pid); // the same factory, spelled another way
    await other.shutdown();
    expect(isAlive(pid)).toBe(false);
    expect((await other.ping()).pid).not.toBe(pid);
    await other.shutdown();
  });

  it('graceful shutdown answers every accepted call; force rejects the queued ones', async () => {
    const svc = service<Counter>();
    const counter = await svc.proxy();
    const accepted = Array.from({ length: 10 }, (_, i) => counter.hold(20, i));
    await svc.ping(); // those calls were written first, so they are accepted
    await svc.shutdown();
    expect(await Promise.all(accepted)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(existsSync(svc.paths.metadata)).toBe(false);

    const again = await svc.proxy();
    // Long enough for the force to find the inc() calls still queued; short enough to end
    // within the 2 s grace before SIGKILL.
    const running = again.hold(1200, 'running').catch((e: unknown) => e);
    const queued = Array.from({ length: 3 }, () => again.inc().catch((e: unknown) => e));
    await svc.ping();
    await svc.shutdown({ force: true });
    for (const outcome of await Promise.all(queued)) expect((outcome as LoopbackSingletonError).code).toBe('ERR_SHUTDOWN_FORCED');
    // The running call is let finish (briefly) before the daemon exits: its caller gets the answer.
    expect(await running).toBe('running');
  });

  it('a service whose runtime directory was removed (clean, a tmp reaper) starts again', async () => {
    const svc = service<Counter>();
    await svc.ping();
    await svc.shutdown();
    rmSync(svc.paths.dir, { recursive: true, force: true });
    expect((await svc.ping()).pid).toBeGreaterThan(0);
    expect(existsSync(svc.paths.token)).toBe(true);
  });

  it('a token replaced between two daemons is the one the next proxy of this process proves with', async () => {
    const svc = service<Counter>();
    const first = await svc.proxy();
    expect(await first.inc()).toBe(1);
    const { pid } = await svc.ping();
    await closeRemote(first);
    await svc.shutdown();
    // A new secret, as a user rotating it would write it: the next daemon holds it, and a
    // client proving with the previous one would take that daemon for a foreign listener.
    writeFileSync(svc.paths.token, 'b'.repeat(64), { mode: 0o600 });
    const second = await service<Counter>({ runtimeDir: dirname(svc.paths.dir) }).proxy();
    expect(await second.inc()).toBe(1);
    expect((await svc.ping()).pid).not.toBe(pid);
    expect(readFileSync(svc.paths.token, 'latin1')).toBe('b'.repeat(64));
    await closeRemote(second);
  });

  it('a token file that is not private fails a cold start with ERR_LOOPBACK_SINGLETON saying what to do', async () => {
    const svc = service();
    ensurePrivateDir(svc.paths.dir);
    writeFileSync(svc.paths.token, 'a'.repeat(64), { mode: 0o644 });
    chmodSync(svc.paths.token, 0o644);
    const cold = await svc.proxy().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(cold).toBeInstanceOf(LoopbackSingletonError);
    expect((cold as LoopbackSingletonError).code).toBe('ERR_LOOPBACK_SINGLETON');
    expect((cold as Error).message).toContain('delete the file so a new one is made');

    expect(existsSync(svc.paths.metadata)).toBe(false);
  });

  it('shutdown() with no daemon running resolves', async () => {
    const svc = service();
    await svc.shutdown();
    await svc.shutdown({ force: true });
    expect(existsSync(svc.paths.metadata)).toBe(false);
  });

  it('transport ipc through the public API', async () => {
    const svc = service<Counter>({ transport: 'ipc' });
    const counter = await svc.proxy();
    expect(await counter.inc()).toBe(1);
    const info = await svc.ping();
    expect(info.transport).toBe('ipc');
    expect(info.address.startsWith(svc.paths.dir)).toBe(true);
    await closeRemote(counter);
  });

  it('rejects bad input synchronously with TypeErrors that say what to pass', () => {
    expect(() => localSingleton('a/b', './x.js:X')).toThrow(TypeError);
    expect(() => localSingleton('..', './x.js:X')).toThrow(/name/);
    expect(() => localSingleton('ok', 42 as never)).toThrow(/factory/);
    expect(() => localSingleton('ok', './x.js:X', { idleTtlMs: -1 })).toThrow(/idleTtlMs/);
    expect(() => localSingleton('ok', './x.js:X', { transport: 'udp' as never })).toThrow(/transport/);
    expect(() => localSingleton('ok', './x.js:X', { args: [() => 1] })).toThrow(/args\[0\]/);
  });
});
