/**
 * What a TLS failure between a cluster client and daemon is, without loading `node:tls`: the
 * codes of certificates that do not fit and of a listener that speaks no TLS (used by ./tls.ts
 * to name them), the daemon's refusals in protocol frames, and {@link isTlsMismatch}, with which
 * the cluster client tells a misconfiguration (final) from a daemon that does not answer.
 */

/** What a TLS daemon answers, in plain protocol frames, to a client that spoke the protocol without TLS. */
export const PLAIN_CLIENT_REFUSAL =
  'This daemon takes TLS connections only (it listens off loopback): connect with `tls: { cert, key, ca }` from the same CA as the daemon';

/** How a TLS daemon's refusal of a client's certificate begins. */
const REFUSED_CERTIFICATE = "This daemon does not accept this client's certificate";

/** What a TLS daemon answers a client whose certificate it does not trust (`reason`: OpenSSL's verdict). */
export function refusedCertificate(reason: string): string {
  return `${REFUSED_CERTIFICATE} (${reason}): \`tls.cert\` must be issued by the CA the daemon trusts (its \`tls.ca\`)`;
}

/** Verification failures that mean the daemon's certificate does not come from our CA. */
export const UNTRUSTED_DAEMON = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
]);

/** TLS alerts a daemon sends when it does not accept this client's certificate. */
export const REFUSED_CLIENT = new Set([
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR',
]);

/** What the listener says when it speaks no TLS (a daemon without `tls`, or not a daemon). */
export const NOT_TLS = new Set(['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_RECORD_LAYER_FAILURE']);

/** Certificate verdicts on the daemon's side of the dial: not for this address, or not valid now. */
const DAEMON_CERTIFICATE = new Set(['ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/**
 * Whether `error` (or an error in its `cause` chain) says the two sides' TLS settings do not fit:
 * a certificate from another CA, not issued for the address, expired; this client's certificate
 * refused; one side without TLS. No retry fixes it: the cluster client ends the attempt on it.
 * @example isTlsMismatch(await connect().catch((e) => e)) // true for a daemon cert from another CA
 */
export function isTlsMismatch(error: unknown): boolean {
  for (let at: unknown = error, depth = 0; typeof at === 'object' && at !== null && depth < 8; at = (at as { cause?: unknown }).cause, depth++) {
    const { code, message } = at as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && (UNTRUSTED_DAEMON.has(code) || REFUSED_CLIENT.has(code) || NOT_TLS.has(code) || DAEMON_CERTIFICATE.has(code))) return true;
    // The daemon's own refusals, sent in protocol frames.
    if (typeof message === 'string' && (message.includes(PLAIN_CLIENT_REFUSAL) || message.includes(REFUSED_CERTIFICATE))) return true;
  }
  return false;
}
