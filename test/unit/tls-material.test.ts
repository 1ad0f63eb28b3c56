/**
 * The `tls` option's check (src/net/tls-material.ts): a table of bad values, each refused
 * with a TypeError that names the field and never quotes a key; good material passes as is.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkTlsMaterial } from '../../src/net/tls-material.js';
import { makeTestCerts, type TestCerts } from '../support/certs.js';

let certs: TestCerts;
/** A self-signed certificate whose subject has two names (O and CN), made with `openssl`. */
let twoNames: string;
beforeAll(() => {
  certs = makeTestCerts();
  const dir = mkdtempSync(join(tmpdir(), 'lbs-certs-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        'key.pem',
        '-out',
        'cert.pem',
        '-days',
        '2',
        '-subj',
        '/O=lbs test/CN=two names',
      ],
      { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    twoNames = readFileSync(join(dir, 'cert.pem'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** What `checkTlsMaterial(value)` throws. */
function refusal(value: unknown): Error {
  try {
    checkTlsMaterial(value);
  } catch (error) {
    expect(error).toBeInstanceOf(TypeError);
    return error as Error;
  }
  throw new Error('checkTlsMaterial accepted it');
}

/** `pem` with its block labelled `label` instead of `from`. */
const relabel = (pem: string, from: string, label: string) =>
  pem.replaceAll(`-----BEGIN ${from}-----`, `-----BEGIN ${label}-----`).replaceAll(`-----END ${from}-----`, `-----END ${label}-----`);

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

  it('takes the older labels of a certificate block (X509, TRUSTED) for cert and ca', () => {
    for (const label of ['X509 CERTIFICATE', 'TRUSTED CERTIFICATE']) {
      const material = { cert: relabel(certs.daemon.cert, 'CERTIFICATE', label), key: certs.daemon.key, ca: relabel(certs.ca, 'CERTIFICATE', label) };
      expect(checkTlsMaterial(material)).toEqual(material);
    }
  });

  it('reads only a whole label: a block whose label merely contains CERTIFICATE or PRIVATE KEY is no PEM block of it', () => {
    for (const label of ['OTHER CERTIFICATE', 'CERTIFICATE REQUEST', 'X509 CERTIFICATES', 'PRIVATE KEY']) {
      const cert = relabel(certs.daemon.cert, 'CERTIFICATE', label);
      expect(refusal({ ...good(), cert }).message).toBe(
        `Expected \`tls.cert\` to be a PEM certificate (string or Buffer), got a string of ${cert.length} characters with no PEM block`,
      );
    }
    const key = relabel(certs.daemon.key, 'PRIVATE KEY', 'PRIVATE KEY INFO');
    expect(refusal({ ...good(), key }).message).toBe(
      `Expected \`tls.key\` to be a PEM private key (string or Buffer), got a string of ${key.length} characters with no PEM block`,
    );
  });

  it('finds the PEM block among others, and reads an encrypted key only by its own label or header', () => {
    // A block of another label before the key: the key is still found, and is not encrypted.
    const withOthers = { ...good(), key: `-----BEGIN ENCRYPTED PRIVATE KEY NOTE-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY NOTE-----\n${certs.daemon.key}` };
    expect(checkTlsMaterial(withOthers)).toEqual(withOthers);
    // A label that only ends with ENCRYPTED PRIVATE KEY is a key that does not parse, not an encrypted one.
    expect(refusal({ ...good(), key: '-----BEGIN NOT ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END NOT ENCRYPTED PRIVATE KEY-----\n' }).message).toMatch(
      /^Expected `tls.key` to be a PEM private key, but it does not parse: /,
    );
    // OpenSSL's older encrypted keys say so in a header.
    const legacy =
      '-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END EC PRIVATE KEY-----\n';
    expect(refusal({ ...good(), key: legacy }).message).toBe(
      'Expected `tls.key` to be a PEM private key that is not encrypted (`tls` takes no passphrase): decrypt it first, e.g. `openssl pkey -in key.pem -out plain.pem`',
    );
  });

  it("keeps the parser's error as the cause of a block that does not parse", () => {
    const cert = refusal({ ...good(), cert: certs.daemon.cert.replace(/\n[A-Za-z0-9+/]{20}/, '\n!!!!') });
    expect(cert.cause).toBeInstanceOf(Error);
    expect(cert.message).toBe(`Expected \`tls.cert\` to be a PEM certificate, but its PEM block does not parse: ${(cert.cause as Error).message}`);
    const key = refusal({ ...good(), key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' });
    expect(key.cause).toBeInstanceOf(Error);
    expect(key.message).toBe(`Expected \`tls.key\` to be a PEM private key, but it does not parse: ${(key.cause as Error).message}`);
  });

  it("names a certificate's whole subject on one line when the key is another's", () => {
    expect(refusal({ ...good(), cert: twoNames }).message).toBe(
      'Expected `tls.key` to be the private key of `tls.cert` (O=lbs test, CN=two names), but it is another key',
    );
  });

  it('takes a string up to 4095 characters on one line for a file path, not a longer one nor one of several lines', () => {
    const hint = " (a file path? pass the file's contents: readFileSync(path))";
    expect(refusal({ ...good(), cert: 'x'.repeat(4095) }).message).toBe(
      `Expected \`tls.cert\` to be a PEM certificate (string or Buffer), got a string of 4095 characters with no PEM block${hint}`,
    );
    expect(refusal({ ...good(), cert: 'x'.repeat(4096) }).message).toBe(
      'Expected `tls.cert` to be a PEM certificate (string or Buffer), got a string of 4096 characters with no PEM block',
    );
    expect(refusal({ ...good(), cert: 'machine.pem\n' }).message).toBe(
      'Expected `tls.cert` to be a PEM certificate (string or Buffer), got a string of 12 characters with no PEM block',
    );
  });

  it('reads the bytes a Uint8Array views, not the rest of its buffer', () => {
    const pem = Buffer.from(certs.daemon.cert);
    const whole = new Uint8Array(pem.length + 8);
    whole.set(pem, 4);
    const view = whole.subarray(4, 4 + pem.length);
    expect(checkTlsMaterial({ ...good(), cert: view }).cert).toBe(view);
    // A view of the bytes before the PEM block's end: no whole block.
    expect(refusal({ ...good(), ca: new Uint8Array(new Uint8Array(Buffer.from(certs.ca)).buffer, 0, 20) }).message).toBe(
      'Expected `tls.ca` to be a PEM CA certificate (string or Buffer), got 20 bytes with no PEM block',
    );
  });

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
