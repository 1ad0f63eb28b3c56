/**
 * Values cross the wire as they were sent, through real daemon processes, in both directions
 * (docs/PROTOCOL.md §2, Values): Map, Set, Date, BigInt of any size, typed arrays, undefined
 * vs null, Error with its stack, code and cause. What cannot cross (a function, a symbol, an
 * instance of a class with methods, a cycle) fails its own call only, with ERR_UNENCODABLE
 * naming where the value is: the connection, the calls around it and the daemon are
 * unaffected, and a supervised proxy counts no restart.
 */
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Connection } from '../../dist/src/client/connection.js';
import { ProtocolError, RemoteError } from '../../dist/src/errors.js';
import { closeRemote } from '../../dist/src/index.js';
import { PROTOCOL_VERSION } from '../../dist/src/version.js';
import { computeProof, createNonce } from '../../dist/src/wire/auth.js';
import { decodeValue, encodeFrame, FrameDecoder } from '../../dist/src/wire/codec.js';
import { MAX_FRAME, startDaemon } from '../support/daemon.js';
import { service } from '../support/clients.js';
import { describeValue, samples } from '../fixtures/samples.mjs';

interface Counter {
  inc(): number;
  get(): number;
  echo(value: unknown): unknown;
  seen(...args: unknown[]): unknown[];
  samples(): unknown;
  incBadMap(): unknown;
  incSymbol(): unknown;
  hold(ms: number, tag: string): string;
}

const describe_ = describeValue as (value: unknown, stacks?: boolean) => unknown;
const samples_ = samples as () => Record<string, unknown>;

describe('values that cross', () => {
  it('arguments: the daemon receives every type as it was sent (Map, Set, Date, BigInt, typed arrays, undefined vs null, Error with stack, code and cause)', async () => {
    const daemon = await startDaemon();
    const connection = await daemon.connect();
    const sent = samples_();
    const seen = (await connection.call('seen', Object.values(sent))) as unknown[];
    expect(seen).toEqual(Object.values(sent).map((value) => describe_(value)));
    // Spot checks, in case the description itself were blind to something.
    const byName = Object.fromEntries(Object.keys(sent).map((key, i) => [key, seen[i]]));
    expect(byName.nothing).toEqual({
      kind: 'Object',
      props: [
        ['u', { kind: 'undefined' }],
        ['n', { kind: 'null' }],
        ['list', { kind: 'Array', items: [{ kind: 'undefined' }, { kind: 'null' }] }],
      ],
    });
    expect(byName.error).toMatchObject({ class: 'TypeError', code: 'E_TYPED', stack: (sent.error as Error).stack, cause: { class: 'RangeError', message: 'the cause' } });
  });

  it("results: the client receives every type as the daemon built it, stacks being the daemon's", async () => {
    const daemon = await startDaemon();
    const connection = await daemon.connect();
    const got = (await connection.call('samples', [])) as Record<string, unknown>;
    expect(describe_(got, false)).toEqual(describe_(samples_(), false));
    const error = got.error as Error & { code?: unknown };
    expect(error).toBeInstanceOf(TypeError);
    expect(error.code).toBe('E_TYPED');
    expect(error.stack).toContain('samples.mjs');
    expect(error.cause).toBeInstanceOf(RangeError);
    expect(got.map).toBeInstanceOf(Map);
    expect(((got.bigints as bigint[])[6] as bigint) - 12345n).toBe(2n ** 200n);
    expect(got.aggregate).toBeInstanceOf(AggregateError);
  });

  it("both ways: an echo returns each value unchanged, with the sender's own stacks", async () => {
    const daemon = await startDaemon();
    const connection = await daemon.connect();
    const sent = samples_();
    for (const [name, value] of Object.entries(sent)) {
      expect([name, describe_(await connection.call('echo', [value]))]).toEqual([name, describe_(value)]);
    }
  });

  it('an instance of a class without methods crosses as a plain object', async () => {
    const daemon = await startDaemon();
    const connection = await daemon.connect();
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    expect(await connection.call('echo', [new Point(1, 2)])).toEqual({ x: 1, y: 2 });
  });
});

async function failure(promise: Promise<unknown>): Promise<ProtocolError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ProtocolError);
  return error as ProtocolError;
}

describe('unencodable values', () => {
  it('a callback among the arguments: that call fails with its path before anything is written; the connection and the calls around it go on', async () => {
    const daemon = await startDaemon();
    const connection = await daemon.connect();
    const before = connection.call('inc', []);
    const held = connection.call('hold', [200, 'held']);
    const bad = failure(connection.call('echo', [{ list: [1, new Map([['a', { onChange: () => 1 }]])] }]));
    const after = connection.call('inc', []);
    const error = await bad;
    expect(error.code).toBe('ERR_UNENCODABLE');
    expect(error.message).toContain('args[0].list[1].get("a").onChange is a function');
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
    expect(symbol.message).toContain('args[1].s is a symbol');
    const cycle = await failure(connection.call('echo', [cyclic]));
    expect(cycle.code).toBe('ERR_UNENCODABLE');
    expect(cycle.message).toContain('args[0].self.back is args[0] again (a cycle');
    class Handle {
      close(): void {}
    }
    const instance = await failure(connection.call('echo', [[new Handle()]]));
    expect(instance.code).toBe('ERR_UNENCODABLE');
    expect(instance.message).toContain('args[0][0] is an instance of Handle, whose methods cannot cross');
    expect(connection.isOpen).toBe(true);
    expect(await connection.call('inc', [])).toBe(1);
    expect((await connection.ping()).callsServed).toBe(1);
  });

  it('a function in a Map as a result: that call fails with its path after running once; the connection goes on', async () => {
    const daemon = await startDaemon();
    const connection = await daemon.connect();
    const calls = [connection.call('inc', []), failure(connection.call('incBadMap', [])), connection.call('inc', [])];
    const [first, bad, third] = await Promise.all(calls);
    const error = bad as ProtocolError;
    expect(error.code).toBe('ERR_UNENCODABLE');
    expect(error.message).toContain('The method ran, but its result cannot be sent: result.index.get("bad") is a function');
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
    expect(error.message).toContain('result[1] is a symbol');
    expect(await connection.call('get', [])).toBe(1);
  });

  it('an instance of a class with methods as a result: ERR_UNENCODABLE (not ERR_REPLY_TOO_LARGE) with its path; the method ran once', async () => {
    const daemon = await startDaemon();
    const connection = await daemon.connect();
    const error = await failure(connection.call('incInstance', []));
    expect(error.code).toBe('ERR_UNENCODABLE');
    expect(error.message).toContain('result.list[0] is an instance of Handle');
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
      expect((await failure(proxy.echo(new Map([[[i], () => i]])))).code).toBe('ERR_UNENCODABLE');
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

describe('a reply the client cannot decode', () => {
  it("a reply with a map key that is not a scalar fails that call alone with ERR_UNENCODABLE; the connection's next call is answered", async () => {
    // A scripted daemon that holds the token (our encoder never writes such a map: this is
    // what another implementation might send, docs/PROTOCOL.md §2).
    const token = Buffer.from('c'.repeat(64), 'latin1');
    const sockets: Socket[] = [];
    const server = createServer((socket) => {
      sockets.push(socket);
      const decoder = new FrameDecoder(MAX_FRAME);
      const daemonNonce = createNonce();
      let clientNonce: Uint8Array | undefined;
      socket.on('error', () => {});
      socket.on('data', (chunk: Buffer) =>
        decoder.push(chunk, (payload) => {
          const message = decodeValue(payload) as { t: string; id?: number; nonce?: Uint8Array };
          if (message.t === 'hello') {
            clientNonce = message.nonce!;
            const proof = computeProof(token, 'daemon', clientNonce, daemonNonce);
            socket.write(encodeFrame({ t: 'challenge', v: PROTOCOL_VERSION, pkg: 'scripted', nonce: daemonNonce, proof }, MAX_FRAME));
          } else if (message.t === 'auth') {
            socket.write(encodeFrame({ t: 'welcome', info: { pid: process.pid, instanceId: 'scripted', maxFrameBytes: MAX_FRAME } }, MAX_FRAME));
          } else if (message.t === 'call' && message.id === 1) {
            // {t: 'reply', id: 1, r: {[[1]]: 1}}: a map whose key is an array.
            const reply = Buffer.from([0x83, 0xa1, 0x74, 0xa5, ...Buffer.from('reply'), 0xa2, 0x69, 0x64, 0x01, 0xa1, 0x72, 0x81, 0x91, 0x01, 0x01]);
            const header = Buffer.alloc(4);
            header.writeUInt32BE(reply.length);
            socket.write(Buffer.concat([header, reply]));
          } else if (message.t === 'call') {
            socket.write(encodeFrame({ t: 'reply', id: message.id, r: 'fine' }, MAX_FRAME));
          }
        }),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => {
      for (const socket of sockets) socket.destroy();
      server.close();
    });
    const { port } = server.address() as AddressInfo;
    const connection = await Connection.open({ transport: 'tcp', host: '127.0.0.1', port }, { token, maxFrameBytes: MAX_FRAME, timeoutMs: 5000 });
    onTestFinished(() => connection.close());
    const refused = (await connection.call('weird', []).catch((e: unknown) => e)) as ProtocolError;
    expect(refused).toBeInstanceOf(ProtocolError);
    expect(refused.code).toBe('ERR_UNENCODABLE');
    expect(refused.message).toContain('The method ran, but its result cannot be received');
    expect(refused.message).toContain('result.<key #0>');
    expect(await connection.call('next', [])).toBe('fine');
    expect(connection.isOpen).toBe(true);
  });
});
