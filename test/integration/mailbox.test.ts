import { describe, expect, it } from 'vitest';
import { MailboxFullError, MethodNotAllowedError, ProtocolError, RemoteError } from '../../dist/src/errors.js';
import { PROTOCOL_VERSION } from '../../dist/src/version.js';
import { rawHandshake, RawPeer, startDaemon } from '../support/daemon.js';
import { sleep } from '../support/wait.js';

describe('mailbox', () => {
  it('50 concurrent read-await-write calls from 5 connections lose no update', async () => {
    const daemon = await startDaemon();
    const connections = await Promise.all(Array.from({ length: 5 }, () => daemon.connect()));
    const results = await Promise.all(connections.flatMap((connection) => Array.from({ length: 10 }, () => connection.call('slowInc', [3]) as Promise<number>)));
    expect([...results].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect(await connections[0]!.call('get', [])).toBe(50);
  });

  it('pipelined calls on one connection execute and answer in issue order', async () => {
    const daemon = await startDaemon();
    const connection = await daemon.connect();
    const results = await Promise.all(Array.from({ length: 100 }, () => connection.call('inc', [])));
    expect(results).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
  });

  it('refuses private, unknown and non-method members without touching the object', async () => {
    const daemon = await startDaemon();
    const peer = await RawPeer.open(daemon.metadata);
    await rawHandshake(peer, daemon.token);
    const names = ['_secret', 'constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf', 'nope', 'value', 'step', 'accessor', 'then', ''];
    for (const [i, name] of names.entries()) {
      peer.send({ t: 'call', id: i + 1, m: name, a: [] });
      const reply = await peer.next();
      expect(reply, name).toMatchObject({ t: 'error', id: i + 1, e: { code: 'ERR_METHOD_NOT_ALLOWED' } });
    }
    // The connection survives refusals, and the object was never touched.
    peer.send({ t: 'call', id: 99, m: 'get', a: [] });
    expect(await peer.next()).toEqual({ t: 'reply', id: 99, r: 0 });

    const connection = await daemon.connect();
    const error = await connection.call('_secret', []).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MethodNotAllowedError);
  });

  it('turns a throw into a RemoteError with the original name, message, stack and code', async () => {
    const daemon = await startDaemon();
    const connection = await daemon.connect();
    const error = (await connection.call('fail', ['nope', 'E_NOPE']).catch((e: unknown) => e)) as RemoteError;
    expect(error).toBeInstanceOf(RemoteError);
    expect(error.code).toBe('ERR_REMOTE');
    expect(error.remoteName).toBe('TypeError');
    expect(error.remoteMessage).toBe('nope');
    expect(error.remoteCode).toBe('E_NOPE');
    expect(error.remoteStack).toContain('services.mjs');
    expect(await connection.call('inc', [])).toBe(1);
  });

  it('a result larger than the frame cap becomes an error reply; the connection goes on', async () => {
    const daemon = await startDaemon({ maxFrameBytes: 64 * 1024 });
    const connection = await daemon.connect();
    const error = await connection.call('blob', [128 * 1024]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe('ERR_REPLY_TOO_LARGE');
    expect(((await connection.call('blob', [1024])) as Uint8Array).length).toBe(1024);
  });

  it('an error too large for a frame is cut down, not fatal', async () => {
    const daemon = await startDaemon({ maxFrameBytes: 4096 });
    const connection = await daemon.connect();
    const error = (await connection.call('failHuge', [8000]).catch((e: unknown) => e)) as RemoteError;
    expect(error).toBeInstanceOf(RemoteError);
    expect(error.remoteMessage.length).toBeLessThan(4096);
    expect(await connection.call('inc', [])).toBe(1);
  });

  it('odd throws (a symbol name, a huge name under the smallest frame cap) are answered, not fatal', async () => {
    const daemon = await startDaemon({ maxFrameBytes: 1024 });
    const connection = await daemon.connect();
    expect(await connection.call('failSymbolName', []).catch((e: unknown) => e)).toBeInstanceOf(RemoteError);
    const huge = (await connection.call('failHugeName', [5000]).catch((e: unknown) => e)) as RemoteError;
    expect(huge).toBeInstanceOf(RemoteError);
    expect(huge.remoteName.length).toBeLessThanOrEqual(64);
    expect(await connection.call('inc', [])).toBe(1);
  });

  it('a hosted method that throws one of our own errors still yields ERR_REMOTE', async () => {
    const daemon = await startDaemon();
    const connection = await daemon.connect();
    const error = (await connection.call('fail', ['looks like ours', 'ERR_DAEMON_LOST']).catch((e: unknown) => e)) as RemoteError;
    expect(error).toBeInstanceOf(RemoteError);
    expect(error.code).toBe('ERR_REMOTE');
    expect(error.remoteCode).toBe('ERR_DAEMON_LOST');
  });

  it('rejects calls beyond maxQueuedCalls instead of buffering them', async () => {
    const daemon = await startDaemon({ maxQueuedCalls: 2 });
    const connection = await daemon.connect();
    const running = connection.call('hold', [300, 'running']);
    // Wait until the first call runs, so the next two are the waiting ones.
    while ((await connection.ping()).running === 0) await sleep(10);
    const waiting = [connection.call('hold', [1, 'a']), connection.call('hold', [1, 'b'])];
    const refused = await connection.call('hold', [1, 'c']).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(MailboxFullError);
    expect((refused as MailboxFullError).code).toBe('ERR_MAILBOX_FULL');
    expect(await Promise.all([running, ...waiting])).toEqual(['running', 'a', 'b']);
  });

  it('ping reports the live state without entering the mailbox', async () => {
    const daemon = await startDaemon({ idleTtlMs: 5000 });
    const connection = await daemon.connect();
    const held = connection.call('hold', [300, 'done']);
    const other = await daemon.connect();
    const info = await other.ping();
    expect(info).toMatchObject({
      pid: daemon.pid,
      instanceId: daemon.metadata.instanceId,
      active: 2,
      running: 1,
      state: { serving: 'busy' },
      protocolVersion: PROTOCOL_VERSION,
      factoryId: 'test-factory',
      transport: 'tcp',
      address: `127.0.0.1:${daemon.metadata.port}`,
      idleTtlMs: 5000,
    });
    expect(info.startedAt).toBe(daemon.metadata.startedAt);
    expect(await held).toBe('done');
    expect((await other.ping()).callsServed).toBe(1);
  });
});
