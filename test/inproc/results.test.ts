/**
 * Results and errors that cannot cross as they are, through a daemon served in this process
 * (test/support/in-process.ts) with a 4 KiB frame cap: a result over the cap or not encodable
 * (the call did run), an error too large to send (cut down, so the caller is always answered),
 * an error carrying a Map keyed by an object; each costs only its own call. What
 * src/daemon/connection.ts and the client's decoding answer.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { closeRemote } from '../../src/client/proxy.js';
import { localSingleton } from '../../src/client/service.js';
import { makeRoot, removeRoot, SERVICES, stopInProcessDaemons } from '../support/in-process.js';

vi.mock('../../src/client/daemon-process.js', async (load) => ({
  ...(await load<typeof import('../../src/client/daemon-process.js')>()),
  spawnDaemonProcess: (await import('../support/in-process.js')).spawnInProcess,
}));

interface Counter {
  get(): number;
  inc(): number;
  blob(bytes: number): Uint8Array;
  incSymbol(): unknown;
  incBadMap(): unknown;
  failHuge(bytes: number): never;
  failHugeName(bytes: number): never;
  failBadMap(): never;
  echo(value: unknown): unknown;
}

const CAP = 4096;
let root: string;
beforeEach(() => {
  root = makeRoot('lbs-results-');
});
afterEach(async () => {
  await stopInProcessDaemons();
  removeRoot(root);
});

async function counter() {
  return localSingleton<Counter>('svc', `${SERVICES}:Counter`, { runtimeDir: root, maxFrameBytes: CAP }).proxy();
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code: string; remoteName?: string }> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(Error);
  return error as Error & { code: string };
}

describe('what cannot cross', () => {
  it('a result over the frame cap: ERR_REPLY_TOO_LARGE saying the method ran; the connection goes on', async () => {
    const svc = await counter();
    const error = await rejection(svc.blob(CAP * 2));
    expect(error).toMatchObject({ name: 'ProtocolError', code: 'ERR_REPLY_TOO_LARGE' });
    expect(error.message).toMatch(/^The method ran, but its result could not be sent: /);
    expect((await svc.blob(16)).length).toBe(16);
    await closeRemote(svc);
  });

  it('a result that cannot be encoded: ERR_UNENCODABLE saying the method ran (and it did)', async () => {
    const svc = await counter();
    const error = await rejection(svc.incSymbol());
    expect(error).toMatchObject({ name: 'ProtocolError', code: 'ERR_UNENCODABLE' });
    expect(error.message).toMatch(/^The method ran, but its result cannot be sent: /);
    expect(await svc.get()).toBe(1);
    const map = await rejection(svc.incBadMap());
    expect(map).toMatchObject({ code: 'ERR_UNENCODABLE' });
    expect(await svc.get()).toBe(2);
    await closeRemote(svc);
  });

  it('an error too large to send: its code, a name of at most 64 characters and a message of at most 200', async () => {
    const svc = await counter();
    const huge = await rejection(svc.failHuge(CAP * 2));
    expect(huge).toMatchObject({ name: 'RemoteError', code: 'ERR_REMOTE', remoteName: 'Error', remoteMessage: 'x'.repeat(200) });
    const named = await rejection(svc.failHugeName(CAP * 2));
    expect(named).toMatchObject({ code: 'ERR_REMOTE', remoteName: 'N'.repeat(64), remoteMessage: 'huge name' });
    expect(await svc.inc()).toBe(1);
    await closeRemote(svc);
  });

  it('an error holding a Map keyed by an object still reaches the caller', async () => {
    const svc = await counter();
    const error = await rejection(svc.failBadMap());
    expect(error).toMatchObject({ code: 'ERR_REMOTE', remoteName: 'RangeError', remoteMessage: 'with a bad map', remoteCode: 'E_BAD' });
    expect(await svc.inc()).toBe(1);
    await closeRemote(svc);
  });
});
