/**
 * A TLS daemon's listener (src/net/tls.ts `createTlsServer`) and the client's connect
 * (`connectTls`), on loopback with the certificates `openssl` makes (test/support/certs.ts),
 * without a daemon: what each kind of peer is told, and that every socket the listener is done
 * with is closed (its connection count drops to 0) and no error of a peer's escapes it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTlsRaw, type TLSSocket } from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PLAIN_CLIENT_REFUSAL, refusedCertificate } from '../../src/net/tls-mismatch.js';
import { connectTls, createTlsServer } from '../../src/net/tls.js';
import { decodeValue, HEADER_BYTES } from '../../src/wire/codec.js';
import { makeTestCerts, material, type TestCerts } from '../support/certs.js';

let certs: TestCerts;
beforeAll(() => {
  certs = makeTestCerts();
});

/** Plain protocol bytes: a frame header and one byte of MessagePack. */
const PLAIN = Buffer.from([0, 0, 0, 1, 0xc0]);

const opened: Server[] = [];
const clients: Socket[] = [];
afterEach(async () => {
  for (const socket of clients.splice(0)) socket.destroy();
  await Promise.all(opened.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** `socket`, destroyed after the test. */
function client<S extends Socket>(socket: S): S {
  clients.push(socket);
  return socket;
}

/** A listener with the daemon's certificate on 127.0.0.1; the sockets it hands on echo what they read. */
async function listen(handshakeTimeoutMs: number): Promise<{ server: Server; port: number; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const server = createTlsServer(material(certs.daemon, certs.ca), handshakeTimeoutMs, (socket) => {
    accepted.push(socket);
    socket.pipe(socket);
  });
  opened.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, accepted };
}

/** Everything `socket` reads until it closes (failing after 5 s: a bound on a hang, not a measured time). */
function readAll(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  return bounded(
    new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.once('close', () => resolve(Buffer.concat(chunks)));
    }),
    'the listener did not close the connection',
  );
}

/** `promise`, or a failure saying `what` after 5 s. */
function bounded<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within 5 s`)), 5000);
  });
  return Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}

/** The one protocol frame `bytes` hold, decoded. */
function frame(bytes: Buffer): unknown {
  expect(bytes.readUInt32BE(0)).toBe(bytes.length - HEADER_BYTES);
  return decodeValue(bytes.subarray(HEADER_BYTES));
}

const refusal = (message: string) => ({ t: 'error', id: null, e: { code: 'ERR_HANDSHAKE', name: 'HandshakeError', message } });

/** Resolves once `server` holds no connection; fails after `boundMs` (a bound on a hang, not a measured time). */
async function drained(server: Server, boundMs = 5000): Promise<void> {
  const start = Date.now();
  for (;;) {
    const count = await new Promise<number>((resolve, reject) => server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
    if (count === 0) return;
    if (Date.now() - start > boundMs) throw new Error(`the listener still holds ${count} connection(s) after ${boundMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Runs `body`, collecting the errors that escape to the process meanwhile (an `error` event nobody listens to). */
async function escaped(body: () => Promise<void>): Promise<unknown[]> {
  const errors: unknown[] = [];
  const record = (error: unknown) => errors.push(error);
  process.on('uncaughtException', record);
  try {
    await body();
    // Let an error emitted on the next tick of the last step come out.
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    process.off('uncaughtException', record);
  }
  return errors;
}

/** Resolves on `socket`'s `event`; rejects on its error, or after 5 s. */
function opens(socket: Socket, event = 'connect'): Promise<void> {
  return bounded(
    new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.once(event, () => resolve());
    }),
    `no ${event}`,
  );
}

describe('createTlsServer', () => {
  it('hands on a client whose certificate the CA issued, decrypted', async () => {
    const { server, port, accepted } = await listen(5000);
    const socket = client(connectTls({ transport: 'tcp', host: '127.0.0.1', port }, material(certs.client, certs.ca)));
    await opens(socket, 'secureConnect');
    expect(socket.authorized).toBe(true);
    const echoed = new Promise<Buffer>((resolve) => socket.once('data', resolve));
    socket.write('over TLS');
    expect((await echoed).toString()).toBe('over TLS');
    expect(accepted).toHaveLength(1);
    expect((accepted[0] as TLSSocket).authorized).toBe(true);
    socket.end();
    await drained(server);
  });

  it('connects over a socket path for a daemon whose transport is ipc', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lbs-tls-'));
    try {
      const path = join(dir, 'daemon.sock');
      const accepted: Socket[] = [];
      const server = createTlsServer(material(certs.daemon, certs.ca), 5000, (socket) => {
        accepted.push(socket);
        socket.pipe(socket);
      });
      opened.push(server);
      await new Promise<void>((resolve) => server.listen(path, resolve));
      const socket = client(connectTls({ transport: 'ipc', path }, material(certs.client, certs.ca)));
      await opens(socket, 'secureConnect');
      const echoed = new Promise<Buffer>((resolve) => socket.once('data', resolve));
      socket.write('over a path');
      expect((await echoed).toString()).toBe('over a path');
      expect(accepted).toHaveLength(1);
    } finally {
      for (const socket of clients.splice(0)) socket.destroy();
      await Promise.all(opened.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('tells a client whose certificate another CA issued why, in a protocol frame inside TLS, and closes it', async () => {
    const { server, port, accepted } = await listen(5000);
    const socket = client(connectTls({ transport: 'tcp', host: '127.0.0.1', port }, material(certs.otherClient, certs.ca)));
    const bytes = readAll(socket);
    await opens(socket, 'secureConnect');
    expect(frame(await bytes)).toEqual(refusal(refusedCertificate('UNABLE_TO_VERIFY_LEAF_SIGNATURE')));
    expect(accepted).toEqual([]);
    await drained(server);
  });

  it('drops a client that ends the TLS handshake (it trusts another CA), with no error escaping', async () => {
    const { server, port, accepted } = await listen(5000);
    const errors = await escaped(async () => {
      const socket = client(connectTls({ transport: 'tcp', host: '127.0.0.1', port }, material(certs.otherClient, certs.otherCa)));
      await expect(opens(socket, 'secureConnect')).rejects.toMatchObject({ code: 'SELF_SIGNED_CERT_IN_CHAIN' });
      await drained(server);
    });
    expect(errors).toEqual([]);
    expect(accepted).toEqual([]);
  });

  it('tells a client that shows no certificate why, in a protocol frame inside TLS', async () => {
    const { server, port, accepted } = await listen(5000);
    const socket = client(connectTlsRaw({ host: '127.0.0.1', port, ca: certs.ca, minVersion: 'TLSv1.3' }));
    const bytes = readAll(socket);
    await opens(socket, 'secureConnect');
    expect(frame(await bytes)).toEqual(refusal(refusedCertificate('UNABLE_TO_GET_ISSUER_CERT')));
    expect(accepted).toEqual([]);
    await drained(server);
  });

  it('answers plain protocol bytes with the refusal in a plain frame, and closes the connection', async () => {
    const { server, port, accepted } = await listen(5000);
    const socket = client(connect({ host: '127.0.0.1', port }));
    const bytes = readAll(socket);
    await opens(socket);
    socket.write(PLAIN);
    expect(frame(await bytes)).toEqual(refusal(PLAIN_CLIENT_REFUSAL));
    expect(accepted).toEqual([]);
    await drained(server);
  });

  it('closes a connection that sends nothing at the handshake deadline', async () => {
    const { server, port } = await listen(100);
    const socket = client(connect({ host: '127.0.0.1', port }));
    const bytes = readAll(socket);
    await opens(socket);
    expect(await bytes).toEqual(Buffer.alloc(0));
    await drained(server);
  });

  it('closes a refused client that keeps its side open, at the handshake deadline', async () => {
    const { server, port } = await listen(100);
    // Half open: the client reads the refusal and its end, and never ends its own side.
    const socket = client(connect({ host: '127.0.0.1', port, allowHalfOpen: true }));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const ended = opens(socket, 'end');
    await opens(socket);
    socket.write(PLAIN);
    await ended;
    expect(frame(Buffer.concat(chunks))).toEqual(refusal(PLAIN_CLIENT_REFUSAL));
    await drained(server);
    socket.destroy();
  });

  it('drops a client that resets the connection, before its first bytes or after its refusal, with no error escaping', async () => {
    const { server, port } = await listen(5000);
    const errors = await escaped(async () => {
      const arrived = new Promise<void>((resolve) => server.once('connection', () => resolve()));
      const early = client(connect({ host: '127.0.0.1', port }));
      await opens(early);
      // The listener has the connection before it is reset.
      await arrived;
      early.resetAndDestroy();
      await drained(server);

      const refused = client(connect({ host: '127.0.0.1', port, allowHalfOpen: true }));
      await opens(refused);
      const told = opens(refused, 'end');
      refused.resume();
      refused.write(PLAIN);
      await told;
      refused.resetAndDestroy();
      await drained(server);
    });
    expect(errors).toEqual([]);
  });
});
