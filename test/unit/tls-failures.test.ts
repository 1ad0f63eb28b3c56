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

  it('names the address check that failed', () => {
    const described = describeTlsFailure(failure('ERR_TLS_CERT_ALTNAME_INVALID', { reason: "IP: 127.0.0.2 is not in the cert's list: 10.0.0.1" }), true);
    expect(described.message).toContain("IP: 127.0.0.2 is not in the cert's list: 10.0.0.1");
  });

  it('a reset before the TLS handshake ended is told as such; after it, or any other error, passes unchanged', () => {
    expect(describeTlsFailure(failure('ECONNRESET'), false).message).toContain('the listener closed the connection before the TLS handshake ended');
    const after = failure('ECONNRESET');
    expect(describeTlsFailure(after, true)).toBe(after);
    const refused = failure('ECONNREFUSED');
    expect(describeTlsFailure(refused, false)).toBe(refused);
  });
});
