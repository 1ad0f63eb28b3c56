/** Which connect failures are TLS settings that do not fit (src/net/tls-mismatch.ts): final for a cluster client. */
import { describe, expect, it } from 'vitest';
import { isTlsMismatch, PLAIN_CLIENT_REFUSAL, refusedCertificate } from '../../src/net/tls-mismatch.js';

const coded = (code: string) => Object.assign(new Error(code), { code });

describe('isTlsMismatch', () => {
  it.each([
    // The daemon's certificate is not from our CA.
    'SELF_SIGNED_CERT_IN_CHAIN',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'UNABLE_TO_GET_ISSUER_CERT',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'CERT_SIGNATURE_FAILURE',
    // The daemon refused this client's certificate.
    'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
    'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
    'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
    'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
    'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
    'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR',
    // The listener speaks no TLS.
    'ERR_SSL_WRONG_VERSION_NUMBER',
    'ERR_SSL_PACKET_LENGTH_TOO_LONG',
    'ERR_SSL_RECORD_LAYER_FAILURE',
    // The daemon's certificate is not for this address, or not valid now.
    'ERR_TLS_CERT_ALTNAME_INVALID',
    'CERT_HAS_EXPIRED',
    'CERT_NOT_YET_VALID',
  ])('%s is one, also as the cause of the connect error', (code) => {
    expect(isTlsMismatch(coded(code))).toBe(true);
    expect(isTlsMismatch(new Error('connect failed', { cause: new Error('described', { cause: coded(code) }) }))).toBe(true);
  });

  it("is the daemon's refusals in protocol frames", () => {
    expect(isTlsMismatch(Object.assign(new Error(`refused: ${PLAIN_CLIENT_REFUSAL}`), { code: 'ERR_HANDSHAKE' }))).toBe(true);
    expect(isTlsMismatch(Object.assign(new Error(refusedCertificate('unable to get local issuer certificate')), { code: 'ERR_HANDSHAKE' }))).toBe(true);
  });

  it('looks 8 errors deep into the cause chain, no deeper', () => {
    /** `error` as the cause of `wrappers` errors around it. */
    const wrapped = (error: unknown, wrappers: number) => {
      let outer = error;
      for (let n = 0; n < wrappers; n++) outer = new Error(`wrapper ${n}`, { cause: outer });
      return outer;
    };
    expect(isTlsMismatch(wrapped(coded('CERT_HAS_EXPIRED'), 7))).toBe(true);
    expect(isTlsMismatch(wrapped(coded('CERT_HAS_EXPIRED'), 8))).toBe(false);
    expect(isTlsMismatch(wrapped(new Error(PLAIN_CLIENT_REFUSAL), 7))).toBe(true);
    expect(isTlsMismatch(wrapped(new Error(PLAIN_CLIENT_REFUSAL), 8))).toBe(false);
    // A chain that loops ends at the bound.
    const looped = new Error('looped') as Error & { cause?: unknown };
    looped.cause = new Error('back', { cause: looped });
    expect(isTlsMismatch(looped)).toBe(false);
  });

  it('stops at a cause that is no object, and reads neither a code nor a message that is no string', () => {
    expect(isTlsMismatch(new Error('connect failed', { cause: null }))).toBe(false);
    expect(isTlsMismatch(new Error('connect failed', { cause: 'CERT_HAS_EXPIRED' }))).toBe(false);
    expect(isTlsMismatch({ code: ['CERT_HAS_EXPIRED'], message: [PLAIN_CLIENT_REFUSAL] })).toBe(false);
    expect(isTlsMismatch({ code: 42, message: 42 })).toBe(false);
    // A plain object with the fields is read as an error is.
    expect(isTlsMismatch({ code: 'CERT_HAS_EXPIRED' })).toBe(true);
    expect(isTlsMismatch({ message: refusedCertificate('no certificate') })).toBe(true);
  });

  it('is not a daemon that does not answer, nor anything else', () => {
    for (const error of [
      coded('ECONNREFUSED'),
      coded('ETIMEDOUT'),
      coded('ERR_AUTH_FAILED'),
      new Error('ERR_SSL_WRONG_VERSION_NUMBER in a message'),
      undefined,
      'text',
    ]) {
      expect(isTlsMismatch(error)).toBe(false);
    }
  });
});
