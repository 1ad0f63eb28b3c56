/**
 * Mutual TLS under the protocol (src/net/tls.ts), with real daemon processes on the second
 * loopback address (127.0.0.2, as a cluster's "machine" would be) and certificates made here
 * by `openssl` (../support/certs.ts): calls work over it; the wrong CA on either side, a
 * certificate for another address, a wrong HMAC key, a client without TLS and a TLS client
 * before a plain daemon are refused, each with an error that says which; a daemon refuses to
 * listen off loopback without `tls`. Every refusal is checked to be the refusal, not the
 * connect deadline (`timeoutMs` is far longer than any of them takes).
 */
import { connect } from 'node:net';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Connection } from '../../dist/src/client/connection.js';
import { ConnectionFailedError, HandshakeError, LoopbackSingletonError } from '../../dist/src/errors.js';
import { PLAIN_CLIENT_REFUSAL } from '../../dist/src/net/tls.js';
import type { DaemonMetadata } from '../../dist/src/types.js';
import { makeTestCerts, material, type TestCerts } from '../support/certs.js';
import { MAX_FRAME, startDaemon, type StartedDaemon } from '../support/daemon.js';

let certs: TestCerts;
beforeAll(() => {
  certs = makeTestCerts();
});

/** Long enough that a refusal can never be mistaken for the deadline. */
const TIMEOUT_MS = 20_000;

/** A daemon on 127.0.0.2 over mutual TLS with the daemon's certificate (or `pair`). */
function startTlsDaemon(pair = certs.daemon): Promise<StartedDaemon> {
  return startDaemon({ host: '127.0.0.2', tls: material(pair, certs.ca) });
}

/** Opens a connection to `metadata` (closed when the test ends). */
async function open(metadata: DaemonMetadata, options: Partial<Parameters<typeof Connection.open>[1]> & { token: Uint8Array }): Promise<Connection> {
  const connection = await Connection.open(metadata, { maxFrameBytes: MAX_FRAME, timeoutMs: TIMEOUT_MS, ...options });
  onTestFinished(() => connection.close());
  return connection;
}

/** The error `promise` rejects with (fails the test if it resolves). */
async function refusal(promise: Promise<Connection>): Promise<Error & { code?: string; cause?: { code?: string } }> {
  const outcome = await promise.then(
    (connection) => {
      connection.close();
      return undefined;
    },
    (error: unknown) => error as Error,
  );
  if (outcome === undefined) throw new Error('the connection was opened; it should have been refused');
  return outcome;
}

describe('a daemon over mutual TLS', () => {
  it('listens on its host and answers calls made over TLS, the HMAC handshake inside', async () => {
    const daemon = await startTlsDaemon();
    expect(daemon.metadata).toMatchObject({ transport: 'tcp', host: '127.0.0.2' });
    const connection = await open(daemon.metadata, { token: daemon.token, tls: material(certs.client, certs.ca) });
    expect(connection.welcome.pid).toBe(daemon.pid);
    expect(await connection.call('inc', [])).toBe(1);
    expect(await Promise.all([connection.call('inc', []), connection.call('inc', [])])).toEqual([2, 3]);
    // A frame of many TLS records (16 KiB each) both ways.
    const big = Buffer.alloc(3 * 1024 * 1024, 'tls');
    expect(Buffer.compare(Buffer.from((await connection.call('echo', [big])) as Uint8Array), big)).toBe(0);
    // The daemon's own certificate serves as a client's too (a machine that hosts and calls).
    const machine = await open(daemon.metadata, { token: daemon.token, tls: material(certs.daemon, certs.ca) });
    expect(await machine.call('get', [])).toBe(3);
  });

  it('refuses a client that trusts another CA: the daemon is not believed', async () => {
    const daemon = await startTlsDaemon();
    const error = await refusal(open(daemon.metadata, { token: daemon.token, tls: material(certs.otherClient, certs.otherCa) }));
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect(error.code).toBe('ERR_CONNECTION_FAILED');
    expect(error.message).toContain("the daemon's certificate is not signed by the CA in `tls.ca`");
  });

  it("refuses a client whose certificate the daemon's CA did not issue", async () => {
    const daemon = await startTlsDaemon();
    // It trusts the daemon's CA, but shows a certificate from another.
    const error = await refusal(open(daemon.metadata, { token: daemon.token, tls: material(certs.otherClient, certs.ca) }));
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error.code).toBe('ERR_HANDSHAKE');
    expect(error.message).toContain("This daemon does not accept this client's certificate");
    // The daemon goes on serving the clients it trusts.
    const good = await open(daemon.metadata, { token: daemon.token, tls: material(certs.client, certs.ca) });
    expect(await good.call('inc', [])).toBe(1);
  });

  it('refuses a client that shows no certificate', async () => {
    const daemon = await startTlsDaemon();
    const error = await refusal(open(daemon.metadata, { token: daemon.token, tls: { cert: '', key: '', ca: certs.ca } }));
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error.message).toContain("This daemon does not accept this client's certificate");
  });

  it('refuses a daemon whose certificate is not issued for the address dialled', async () => {
    const daemon = await startTlsDaemon(certs.elsewhere);
    const error = await refusal(open(daemon.metadata, { token: daemon.token, tls: material(certs.client, certs.ca) }));
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect(error.cause?.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(error.message).toContain("the daemon's certificate is not issued for the address dialled");
  });

  it('still runs the HMAC handshake: a client with another key is refused over a good TLS connection', async () => {
    const daemon = await startTlsDaemon();
    const wrong = Buffer.from(daemon.token).fill(7);
    const error = await refusal(open(daemon.metadata, { token: wrong, tls: material(certs.client, certs.ca) }));
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error.code).toBe('ERR_AUTH_FAILED');
  });

  it('answers a client without TLS with a plain refusal that says to use TLS, at once', async () => {
    const daemon = await startTlsDaemon();
    const error = await refusal(open(daemon.metadata, { token: daemon.token }));
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error.code).toBe('ERR_HANDSHAKE');
    expect(error.message).toContain(PLAIN_CLIENT_REFUSAL);
  });

  it('drops a connection that sends nothing, at its handshake deadline', async () => {
    const daemon = await startTlsDaemon();
    const socket = connect({ host: daemon.metadata.host!, port: daemon.metadata.port! });
    onTestFinished(() => void socket.destroy());
    socket.on('error', () => {});
    // The daemon's handshakeTimeoutMs is 2 s (../support/daemon.ts); the test's own deadline is 30 s.
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    expect(socket.bytesRead).toBe(0);
  });

  it('a TLS client before a daemon without TLS is told the listener does not speak TLS', async () => {
    const daemon = await startDaemon({ host: '127.0.0.2' });
    const error = await refusal(open(daemon.metadata, { token: daemon.token, tls: material(certs.client, certs.ca) }));
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect(error.message).toMatch(/the listener (does not speak TLS|closed the connection before the TLS handshake ended)/);
  });
});

describe('listening off loopback', () => {
  it('a daemon given a host off loopback without `tls` refuses to start', async () => {
    const error = await startDaemon({ host: '0.0.0.0' }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(LoopbackSingletonError);
    expect(error?.message).toContain('Refusing to listen on `0.0.0.0`');
  });
});
