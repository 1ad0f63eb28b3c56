/**
 * How a TLS connect's failure reads (src/net/tls.ts `describeTlsFailure`): each OpenSSL or
 * Node code the client can meet becomes a sentence that says what to fix, with the original
 * as its cause; anything else passes unchanged.
 */
import { describe, expect, it } from 'vitest';
import { describeTlsFailure } from '../../src/net/tls.js';

const failure = (code: string, extra: object = {}) => Object.assign(new Error(`raw ${code}`), { code }, extra);

describe('describeTlsFailure', () => {
  it.each([
    ['SELF_SIGNED_CERT_IN_CHAIN', "the daemon's certificate is not signed by the CA in `tls.ca`"],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', "the daemon's certificate is not signed by the CA in `tls.ca`"],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', "the daemon's certificate is not signed by the CA in `tls.ca`"],
    ['ERR_TLS_CERT_ALTNAME_INVALID', "the daemon's certificate is not issued for the address dialled"],
    ['CERT_HAS_EXPIRED', "the daemon's certificate is not valid now"],
    ['ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', "the daemon refused this client's certificate"],
    ['ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', "the daemon refused this client's certificate"],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'the listener does not speak TLS'],
  ])('%s', (code, sentence) => {
    const original = failure(code);
    const described = describeTlsFailure(original, false) as Error & { code?: string };
    expect(described.message).toContain(sentence);
    expect(described.message).toContain(code);
    expect(described.cause).toBe(original);
    expect(described.code).toBe(code);
  });

  // Every code of each kind, whole sentence: the handshake's state does not change what a certificate or TLS verdict says.
  const untrusted = (code: string) =>
    `the daemon's certificate is not signed by the CA in \`tls.ca\` (${code}): give every machine a certificate issued by one CA, and that CA as \`tls.ca\``;
  const notNow = (code: string) => `the daemon's certificate is not valid now (${code}): renew it, or check this machine's clock`;
  const refused = (code: string) => `the daemon refused this client's certificate (${code}): \`tls.cert\` must be issued by the CA the daemon trusts (its \`tls.ca\`)`;
  const notTls = (code: string) => `the listener does not speak TLS (${code}): a daemon without \`tls\`? every machine needs the same \`tls\` setting`;
  it.each([
    ...[
      'SELF_SIGNED_CERT_IN_CHAIN',
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
      'UNABLE_TO_GET_ISSUER_CERT',
      'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
      'CERT_SIGNATURE_FAILURE',
    ].map((code) => [code, untrusted(code)]),
    ...['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID'].map((code) => [code, notNow(code)]),
    ...[
      'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
      'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
      'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
      'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
      'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
      'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR',
    ].map((code) => [code, refused(code)]),
    ...['ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_PACKET_LENGTH_TOO_LONG', 'ERR_SSL_RECORD_LAYER_FAILURE'].map((code) => [code, notTls(code)]),
  ])('%s, before or after the handshake', (code, message) => {
    for (const secured of [false, true]) {
      const original = failure(code);
      const described = describeTlsFailure(original, secured) as Error & { code?: string };
      expect(described).not.toBe(original);
      expect(described.message).toBe(message);
      expect(described.cause).toBe(original);
      expect(described.code).toBe(code);
    }
  });

  it('names the address check that failed', () => {
    const described = describeTlsFailure(failure('ERR_TLS_CERT_ALTNAME_INVALID', { reason: "IP: 127.0.0.2 is not in the cert's list: 10.0.0.1" }), true);
    expect(described.message).toContain("IP: 127.0.0.2 is not in the cert's list: 10.0.0.1");
    expect(described.message).toBe(
      "the daemon's certificate is not issued for the address dialled (IP: 127.0.0.2 is not in the cert's list: 10.0.0.1): list that address in its subjectAltName (IP:...)",
    );
    // Without Node's reason, the code stands in for it.
    expect(describeTlsFailure(failure('ERR_TLS_CERT_ALTNAME_INVALID'), true).message).toBe(
      "the daemon's certificate is not issued for the address dialled (ERR_TLS_CERT_ALTNAME_INVALID): list that address in its subjectAltName (IP:...)",
    );
  });

  it.each(['ECONNRESET', 'EPIPE'])('%s before the TLS handshake ended is told as such; after it, it passes unchanged', (code) => {
    const before = failure(code);
    const described = describeTlsFailure(before, false) as Error & { code?: string };
    expect(described.message).toBe(
      `the listener closed the connection before the TLS handshake ended (${code}): a daemon without \`tls\`, or one that refused this client`,
    );
    expect(described.cause).toBe(before);
    expect(described.code).toBe(code);
    const after = failure(code);
    expect(describeTlsFailure(after, true)).toBe(after);
  });

  it('any other error passes unchanged, a code that is no string too', () => {
    for (const error of [failure('ECONNREFUSED'), failure('ETIMEDOUT'), new Error('no code'), Object.assign(new Error('numeric'), { code: 104 })]) {
      expect(describeTlsFailure(error, false)).toBe(error);
      expect(describeTlsFailure(error, true)).toBe(error);
    }
  });
});
