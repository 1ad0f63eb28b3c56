import { createServer, connect, type Socket } from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Connection } from '../../dist/src/client/connection.js';
import { HandshakeError } from '../../dist/src/errors.js';
import { createNonce } from '../../dist/src/wire/auth.js';
import { MAX_FRAME, RawPeer, startDaemon } from '../support/daemon.js';
import { sleep } from '../support/wait.js';
import { PROTOCOL_VERSION } from '../../dist/src/version.js';

/** A TCP relay in front of the daemon that records every byte in each direction. */
async function recordingRelay(port: number): Promise<{ port: number; toDaemon: Buffer[]; toClient: Buffer[] }> {
  const toDaemon: Buffer[] = [];
  const toClient: Buffer[] = [];
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port });
    sockets.push(client, upstream);
    client.on('data', (chunk: Buffer) => {
      toDaemon.push(Buffer.from(chunk));
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      toClient.push(Buffer.from(chunk));
      client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const address = server.address();
  return { port: typeof address === 'object' && address ? address.port : 0, toDaemon, toClient };
}

describe('handshake', () => {
  it('authenticates with the right token, and the token never crosses the socket', async () => {
    const daemon = await startDaemon();
    const relay = await recordingRelay(daemon.metadata.port!);
    const connection = await Connection.open(
      { transport: 'tcp', host: '127.0.0.1', port: relay.port },
      { token: daemon.token, maxFrameBytes: MAX_FRAME, timeoutMs: 5000 },
    );
    expect(connection.welcome.pid).toBe(daemon.pid);
    expect(await connection.call('inc', [])).toBe(1);
    connection.close();

    const sent = Buffer.concat(relay.toDaemon);
    const received = Buffer.concat(relay.toClient);
    expect(sent.length).toBeGreaterThan(0);
    expect(received.length).toBeGreaterThan(0);
    const tokenText = daemon.token; // the 64 hex characters are the key
    const tokenBytes = Buffer.from(daemon.token.toString('latin1'), 'hex');
    for (const bytes of [sent, received]) {
      expect(bytes.includes(tokenText)).toBe(false);
      expect(bytes.includes(tokenBytes)).toBe(false);
    }
  });

  it('a client with the wrong token refuses the daemon before proving anything', async () => {
    const daemon = await startDaemon();
    const relay = await recordingRelay(daemon.metadata.port!);
    const wrong = Buffer.from('f'.repeat(64), 'latin1');
    const error = await Connection.open({ transport: 'tcp', host: '127.0.0.1', port: relay.port }, { token: wrong, maxFrameBytes: MAX_FRAME, timeoutMs: 5000 }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(HandshakeError);
    expect((error as HandshakeError).code).toBe('ERR_AUTH_FAILED');
    // Only the hello went out: the client never sent an auth proof to a peer it could not trust.
    await sleep(50);
    expect(Buffer.concat(relay.toDaemon).includes(Buffer.from('auth'))).toBe(false);
  });

  it('each handshake proves with the token it is given, even after this process shook hands with another', async () => {
    // The client keeps the key object of the last token it used: a token of another value
    // (a rotated one, another singleton's) must never be proved with the previous key.
    const first = await startDaemon();
    const second = await startDaemon();
    const open = (daemon: typeof first, token: Buffer) =>
      Connection.open(daemon.metadata, { token, maxFrameBytes: MAX_FRAME, timeoutMs: 5000 }).then(
        (connection) => {
          const pid = connection.welcome.pid;
          connection.close();
          return pid;
        },
        (error: unknown) => (error as HandshakeError).code,
      );
    expect(await open(first, first.token)).toBe(first.pid);
    expect(await open(second, second.token)).toBe(second.pid);
    expect(await open(first, first.token)).toBe(first.pid);
    // A daemon that holds another token is refused, whichever key the process made last.
    expect(await open(second, first.token)).toBe('ERR_AUTH_FAILED');
    expect(await open(second, Buffer.from(first.token))).toBe('ERR_AUTH_FAILED');
    expect(await open(first, second.token)).toBe('ERR_AUTH_FAILED');
  });

  it('the daemon rejects a client whose proof is wrong and closes that connection', async () => {
    const daemon = await startDaemon();
    const peer = await RawPeer.open(daemon.metadata);
    peer.send({ t: 'hello', v: PROTOCOL_VERSION, pkg: 'test', nonce: createNonce() });
    const challenge = await peer.next();
    expect(challenge.t).toBe('challenge');
    peer.send({ t: 'auth', proof: Buffer.alloc(32, 7) });
    const refusal = await peer.next();
    expect(refusal).toMatchObject({ t: 'error', id: null, e: { code: 'ERR_AUTH_FAILED' } });
    await peer.closed;
    const ok = await daemon.connect();
    expect((await ok.ping()).active).toBe(1);
  });

  it('the daemon rejects another protocol version and says which it speaks', async () => {
    const daemon = await startDaemon();
    const peer = await RawPeer.open(daemon.metadata);
    peer.send({ t: 'hello', v: 999, pkg: '9.9.9', nonce: createNonce() });
    const refusal = await peer.next();
    expect(refusal).toMatchObject({ t: 'error', id: null, e: { code: 'ERR_PROTOCOL_VERSION', name: 'HandshakeError' } });
    expect(String((refusal.e as { message: string }).message)).toContain('999');
    await peer.closed;
  });

  it('requests before the handshake close the connection without touching the object', async () => {
    const daemon = await startDaemon();
    const peer = await RawPeer.open(daemon.metadata);
    peer.send({ t: 'call', id: 1, m: 'inc', a: [] });
    expect(await peer.next()).toMatchObject({ t: 'error', id: null, e: { code: 'ERR_UNKNOWN_MESSAGE' } });
    await peer.closed;
    const connection = await daemon.connect();
    expect(await connection.call('get', [])).toBe(0);
  });
});
