/**
 * The `tls` option's check (src/net/tls-material.ts): a table of bad values, each refused
 * with a TypeError that names the field and never quotes a key; good material passes as is.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { checkTlsMaterial } from '../../src/net/tls-material.js';
import { makeTestCerts, type TestCerts } from '../support/certs.js';

let certs: TestCerts;
beforeAll(() => {
  certs = makeTestCerts();
});

describe('checkTlsMaterial', () => {
  it('passes PEM strings and Buffers through, as a frozen object of the three fields', () => {
    const strings = { cert: certs.daemon.cert, key: certs.daemon.key, ca: certs.ca };
    expect(checkTlsMaterial(strings)).toEqual(strings);
    expect(Object.isFrozen(checkTlsMaterial(strings))).toBe(true);
    const buffers = { cert: Buffer.from(certs.client.cert), key: Buffer.from(certs.client.key), ca: Buffer.from(certs.ca + certs.otherCa) };
    expect(checkTlsMaterial(buffers)).toEqual(buffers);
  });

  const table: Array<[string, () => unknown, RegExp]> = [
    ['not an object', () => 'cert.pem', /^Expected `tls` to be an object \{ cert, key, ca \} of PEM strings or Buffers, got a string of 8 characters/],
    ['null', () => null, /^Expected `tls` to be an object .* got `null`$/],
    ['an array', () => [], /^Expected `tls` to be an object .* got \(an array\)$/],
    ['an unknown field', () => ({ ...good(), passphrase: 'x' }), /^Unknown field `tls.passphrase`; expected \{ cert, key, ca \}$/],
    ['no cert', () => ({ ...good(), cert: undefined }), /^Expected `tls.cert` to be a PEM certificate \(string or Buffer\), got `undefined`$/],
    [
      'a path for cert',
      () => ({ ...good(), cert: '/etc/ssl/machine.pem' }),
      /^Expected `tls.cert` to be a PEM certificate .* \(a file path\? pass the file's contents: readFileSync\(path\)\)$/,
    ],
    ['a number for cert', () => ({ ...good(), cert: 1 }), /^Expected `tls.cert` to be a PEM certificate \(string or Buffer\), got \(number\)$/],
    ['an object for cert', () => ({ ...good(), cert: { pem: 'x' } }), /^Expected `tls.cert` to be a PEM certificate \(string or Buffer\), got \(an object\)$/],
    ['a key for cert', () => ({ ...good(), cert: certs.daemon.key }), /^Expected `tls.cert` to be a PEM certificate/],
    [
      'a damaged cert',
      () => ({ ...good(), cert: certs.daemon.cert.replace(/\n[A-Za-z0-9+/]{20}/, '\n!!!!') }),
      /^Expected `tls.cert` to be a PEM certificate, but its PEM block does not parse/,
    ],
    ['no key', () => ({ ...good(), key: undefined }), /^Expected `tls.key` to be a PEM private key \(string or Buffer\), got `undefined`$/],
    [
      'a cert for key',
      () => ({ ...good(), key: certs.daemon.cert }),
      /^Expected `tls.key` to be a PEM private key \(string or Buffer\), got a string of \d+ characters with no PEM block$/,
    ],
    ['an encrypted key', () => ({ ...good(), key: '-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n' }), /that is not encrypted/],
    [
      'a damaged key',
      () => ({ ...good(), key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }),
      /^Expected `tls.key` to be a PEM private key, but it does not parse/,
    ],
    [
      'the key of another cert',
      () => ({ ...good(), key: certs.client.key }),
      /^Expected `tls.key` to be the private key of `tls.cert` \(CN=lbs test daemon\), but it is another key$/,
    ],
    ['no ca', () => ({ ...good(), ca: undefined }), /^Expected `tls.ca` to be a PEM CA certificate \(string or Buffer\), got `undefined`$/],
    [
      'bytes that are no PEM for ca',
      () => ({ ...good(), ca: new Uint8Array(4) }),
      /^Expected `tls.ca` to be a PEM CA certificate \(string or Buffer\), got 4 bytes with no PEM block$/,
    ],
  ];
  const good = () => ({ cert: certs.daemon.cert, key: certs.daemon.key, ca: certs.ca });

  it.each(table)('refuses %s, saying which field and what it expected', (_, value, message) => {
    let error: unknown;
    try {
      checkTlsMaterial(value());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(message);
    // A private key is never quoted back.
    expect((error as Error).message).not.toContain('PRIVATE KEY-----\n');
    expect((error as Error).message).not.toContain(certs.daemon.key.split('\n')[1]);
  });
});
