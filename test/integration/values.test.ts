/**
 * Values that cannot cross the wire (a Map keyed by an object, a symbol, a cycle) fail their
 * own call only, with ERR_UNENCODABLE naming where the value is: the connection, the calls
 * around it and the daemon are unaffected, and a supervised proxy counts no restart.
 */
import { describe, expect, it } from 'vitest';
import { ProtocolError, RemoteError } from '../../dist/src/errors.js';
import { closeRemote } from '../../dist/src/index.js';
import { startDaemon } from '../support/daemon.js';
import { service } from '../support/clients.js';

interface Counter {
  inc(): number;
  get(): number;
  echo(value: unknown): unknown;
  incBadMap(): unknown;
  incSymbol(): unknown;
  hold(ms: number, tag: string): string;
}

async function failure(promise: Promise<unknown>): Promise<ProtocolError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProtocolError);
  return error as ProtocolError;
}

describe('unencodable values', () => {
  it('a Map keyed by an object as an argument: that call fails with its path, never runs; the connection and the calls around it go on', async () => {
    const daemon = await startDaemon();
    const connection = await daemon.connect();
    const before = connection.call('inc', []);
    const held = connection.call('hold', [200, 'held']);
    const bad = failure(
      connection.call('echo', [
        {
          list: [
            1,
            new Map([
              ['a', 1],
              [{ k: 1 }, 2],
            ]),
          ],
        },
      ]),
    );
    const after = connection.call('inc', []);
    const error = await bad;
    expect(error.code).toBe('ERR_UNENCODABLE');
    expect(error.message).toContain('args[0].list[1].<key #1>');
    expect(await Promise.all([before, held, after])).toEqual([1, 'held', 2]);
    expect(connection.isOpen).toBe(true);
    expect(await connection.call('get', [])).toBe(2);
    expect((await connection.ping()).pid).toBe(daemon.pid);
  });

  it('a symbol or a cycle as an argument: rejected before anything is written, the connection goes on', async () => {
    const daemon = await startDaemon();
    const connection = await daemon.connect();
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = { back: cyclic };
    const symbol = await failure(connection.call('echo', [1, { s: Symbol('x') }]));
    expect(symbol.code).toBe('ERR_UNENCODABLE');
    expect(symbol.message).toContain('args[1].s');
    const cycle = await failure(connection.call('echo', [cyclic]));
    expect(cycle.code).toBe('ERR_UNENCODABLE');
    expect(cycle.message).toContain('args[0].self.back');
    expect(await connection.call('inc', [])).toBe(1);
    expect((await connection.ping()).callsServed).toBe(1);
  });

  it('a Map keyed by an object as a result: that call fails with its path after running once; the connection goes on', async () => {
    const daemon = await startDaemon();
    const connection = await daemon.connect();
    const calls = [connection.call('inc', []), failure(connection.call('incBadMap', [])), connection.call('inc', [])];
    const [first, bad, third] = await Promise.all(calls);
    const error = bad as ProtocolError;
    expect(error.code).toBe('ERR_UNENCODABLE');
    expect(error.message).toContain('result.index.<key #1>');
    expect([first, third]).toEqual([1, 3]);
    expect(connection.isOpen).toBe(true);
    // The method ran exactly once.
    expect(await connection.call('get', [])).toBe(3);
  });

  it('a symbol as a result: the daemon answers ERR_UNENCODABLE with its path; the method ran once', async () => {
    const daemon = await startDaemon();
    const connection = await daemon.connect();
    const error = await failure(connection.call('incSymbol', []));
    expect(error.code).toBe('ERR_UNENCODABLE');
    expect(error.message).toContain('result[1]');
    expect(await connection.call('get', [])).toBe(1);
  });

  it('an error thrown with a Map keyed by an object on it is answered as a RemoteError', async () => {
    const daemon = await startDaemon();
    const connection = await daemon.connect();
    const error = await connection.call('failBadMap', []).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RemoteError);
    expect((error as RemoteError).remoteCode).toBe('E_BAD');
    expect(await connection.call('inc', [])).toBe(1);
  });

  it('a supervised proxy (maxRestarts 3) takes 5 bad arguments and 5 bad results: no restart, same daemon, same object', async () => {
    const svc = service<Counter>({ restart: { maxRestarts: 3, periodMs: 60_000 } });
    const proxy = await svc.proxy();
    const { pid, startedAt } = await svc.ping();
    for (let i = 0; i < 5; i++) {
      expect((await failure(proxy.echo(new Map([[[i], i]])))).code).toBe('ERR_UNENCODABLE');
      expect((await failure(proxy.incBadMap())).code).toBe('ERR_UNENCODABLE');
      expect(await proxy.inc()).toBe(2 * (i + 1));
    }
    const info = await svc.ping();
    expect(info.pid).toBe(pid);
    expect(info.startedAt).toBe(startedAt);
    expect(info.startReason).toBe('first');
    expect(await proxy.get()).toBe(10);
    await closeRemote(proxy);
  });
});
