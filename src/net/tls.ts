/**
 * Mutual TLS under the protocol, for a daemon off loopback (`tls`, ./tls-material.ts): the
 * daemon's server and the client's connect. TLS proves each machine holds a certificate from
 * the cluster's CA and encrypts the wire; the mutual HMAC handshake (docs/PROTOCOL.md §3)
 * still runs inside it, with the cluster secret. Only this module loads `node:tls`, and only
 * the daemon's listen (../daemon/listen.ts) and the client's connect (../client/handshake.ts)
 * load this module, lazily, when `tls` is set: the loopback default never does.
 *
 * TLS 1.3 only: every Node this package supports (>= 20) speaks it, and it has no weak suites
 * to configure away. A daemon's certificate names the addresses it listens on as IP SANs;
 * Node's default identity check (`tls.checkServerIdentity`) compares them with the address
 * the client dials, so an IP needs no `servername` (SNI carries no IP anyway).
 */
import { createServer as createPlainServer, type Server, type Socket } from 'node:net';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { DaemonMetadata } from '../types.js';
import { encodeFrame, HANDSHAKE_REQUEST_MAX_FRAME_BYTES } from '../wire/codec.js';
import type { ErrorMessage } from '../wire/messages.js';
import type { TlsMaterial } from './tls-material.js';
import { NOT_TLS, PLAIN_CLIENT_REFUSAL, REFUSED_CLIENT, refusedCertificate, UNTRUSTED_DAEMON } from './tls-mismatch.js';

export { PLAIN_CLIENT_REFUSAL, refusedCertificate };

/** The first byte of every TLS connection: a handshake record (the ClientHello). */
const TLS_HANDSHAKE_RECORD = 0x16;

/** The lowest TLS version either side accepts. */
const MIN_VERSION = 'TLSv1.3';

/**
 * A server for a daemon with `tls`: mutual TLS, then `onConnection` with the decrypted socket,
 * which the daemon treats as any other. Only a client whose certificate `ca` issued gets
 * there. The others are answered with a protocol refusal that says why, and closed, so that
 * they fail at once with a clear error instead of waiting out their deadline: a connection
 * that does not start with a TLS record (a client without `tls`) in plain frames
 * ({@link PLAIN_CLIENT_REFUSAL}), a certificate not from `ca` inside TLS
 * ({@link refusedCertificate}). Each stage is bounded by `handshakeTimeoutMs`.
 *
 * Returns the plain server that listens: the TLS server only takes the connections it sorts
 * (Node's documented `server.emit('connection', socket)`), and is never bound itself.
 * @example
 * const server = createTlsServer(tls, 2000, (socket) => accept(socket));
 * server.listen({ host: '10.0.0.5', port: 0 });
 */
export function createTlsServer(material: TlsMaterial, handshakeTimeoutMs: number, onConnection: (socket: Socket) => void): Server {
  const secure = createServer(
    {
      cert: material.cert,
      key: material.key,
      ca: material.ca,
      requestCert: true,
      // Checked below, so that a refused client is told why (Node would only close the socket).
      rejectUnauthorized: false,
      minVersion: MIN_VERSION,
      handshakeTimeout: handshakeTimeoutMs,
    },
    (socket: TLSSocket) => {
      // The one gate: nothing but a peer whose certificate verified against `ca` reaches the daemon.
      if (socket.authorized) onConnection(socket);
      else refuse(socket, refusedCertificate(String(socket.authorizationError ?? 'no certificate')), handshakeTimeoutMs);
    },
  );
  // A failed TLS handshake destroys its socket; the client is told by the TLS alert.
  secure.on('tlsClientError', () => {});
  return createPlainServer({ noDelay: true }, (socket) => sortConnection(socket, secure, handshakeTimeoutMs));
}

/** Sends `socket` a protocol refusal saying `message` and closes it (at the latest after `timeoutMs`). */
function refuse(socket: Socket, message: string, timeoutMs: number): void {
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  socket.on('error', () => socket.destroy());
  const refusal: ErrorMessage = { t: 'error', id: null, e: { code: 'ERR_HANDSHAKE', name: 'HandshakeError', message } };
  socket.end(encodeFrame(refusal, HANDSHAKE_REQUEST_MAX_FRAME_BYTES));
}

/** Hands `socket` to `secure` if its first bytes are TLS; refuses it in plain frames otherwise. */
function sortConnection(socket: Socket, secure: Server, handshakeTimeoutMs: number): void {
  const timer = setTimeout(() => socket.destroy(), handshakeTimeoutMs);
  timer.unref();
  const onError = () => socket.destroy();
  const onClose = () => clearTimeout(timer);
  socket.on('error', onError);
  socket.once('close', onClose);
  socket.once('data', (chunk: Buffer) => {
    clearTimeout(timer);
    socket.off('error', onError);
    socket.off('close', onClose);
    if (chunk[0] !== TLS_HANDSHAKE_RECORD) {
      refuse(socket, PLAIN_CLIENT_REFUSAL, handshakeTimeoutMs);
      return;
    }
    // Read again by the TLS socket, which takes over the connection (its handshakeTimeout bounds it from here).
    socket.pause();
    socket.unshift(chunk);
    secure.emit('connection', socket);
  });
}

/**
 * Connects to the daemon `metadata` names over mutual TLS: its certificate must come from
 * `material.ca` and name the address dialled; this client shows `material.cert`. The socket
 * emits `secureConnect` once both sides are proven (the daemon may still drop it for a
 * client certificate it does not trust: see {@link describeTlsFailure}).
 */
export function connectTls(metadata: Pick<DaemonMetadata, 'transport' | 'host' | 'port' | 'path'>, material: TlsMaterial): TLSSocket {
  const { cert, key, ca } = material;
  const where = metadata.transport === 'tcp' ? { host: metadata.host!, port: metadata.port! } : { path: metadata.path! };
  const socket = connect({ ...where, cert, key, ca, minVersion: MIN_VERSION });
  socket.setNoDelay(true);
  return socket;
}

/**
 * A TLS connect's failure as an error that says what to fix: the daemon's certificate not
 * from `tls.ca`, not issued for the address, expired; this client's certificate refused by
 * the daemon; a listener that speaks no TLS. `secured`: whether the TLS handshake had
 * completed on this side. The original error is the `cause`; other errors pass unchanged.
 */
export function describeTlsFailure(error: Error, secured: boolean): Error {
  const code = (error as { code?: unknown }).code;
  const because = (text: string) => Object.assign(new Error(text, { cause: error }), { code });
  if (typeof code === 'string') {
    if (UNTRUSTED_DAEMON.has(code)) {
      return because(
        `the daemon's certificate is not signed by the CA in \`tls.ca\` (${code}): give every machine a certificate issued by one CA, and that CA as \`tls.ca\``,
      );
    }
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      const reason = (error as { reason?: unknown }).reason;
      return because(`the daemon's certificate is not issued for the address dialled (${String(reason ?? code)}): list that address in its subjectAltName (IP:...)`);
    }
    if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
      return because(`the daemon's certificate is not valid now (${code}): renew it, or check this machine's clock`);
    }
    if (REFUSED_CLIENT.has(code)) {
      return because(`the daemon refused this client's certificate (${code}): \`tls.cert\` must be issued by the CA the daemon trusts (its \`tls.ca\`)`);
    }
    if (NOT_TLS.has(code)) return because(`the listener does not speak TLS (${code}): a daemon without \`tls\`? every machine needs the same \`tls\` setting`);
  }
  if (!secured && (code === 'ECONNRESET' || code === 'EPIPE')) {
    return because(`the listener closed the connection before the TLS handshake ended (${code}): a daemon without \`tls\`, or one that refused this client`);
  }
  return error;
}
