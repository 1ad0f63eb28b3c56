/** Which connect failures are TLS settings that do not fit (src/net/tls-mismatch.ts): final for a cluster client. */
import { describe, expect, it } from 'vitest';
import { isTlsMismatch, PLAIN_CLIENT_REFUSAL, refusedCertificate } from '../../src/net/tls-mismatch.js';

const coded = (code: string) => Object.assign(new Error(code), { code });

describe('isTlsMismatch', () => {
  it.each([
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
    'ERR_SSL_WRONG_VERSION_NUMBER',
    'ERR_TLS_CERT_ALTNAME_INVALID',
    'CERT_HAS_EXPIRED',
  ])('%s is one, also as the cause of the connect error', (code) => {
    expect(isTlsMismatch(coded(code))).toBe(true);
    expect(isTlsMismatch(new Error('connect failed', { cause: new Error('described', { cause: coded(code) }) }))).toBe(true);
  });

  it("is the daemon's refusals in protocol frames", () => {
    expect(isTlsMismatch(Object.assign(new Error(`refused: ${PLAIN_CLIENT_REFUSAL}`), { code: 'ERR_HANDSHAKE' }))).toBe(true);
    expect(isTlsMismatch(Object.assign(new Error(refusedCertificate('unable to get local issuer certificate')), { code: 'ERR_HANDSHAKE' }))).toBe(true);
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
