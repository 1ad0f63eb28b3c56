/**
 * Which hosts are loopback, and the refusal to listen off loopback without both `tls` and
 * `secret` (src/listen-security.ts).
 */
import { describe, expect, it } from 'vitest';
import { checkListenSecurity, isLoopbackHost } from '../../src/listen-security.js';

describe('isLoopbackHost', () => {
  it.each([
    '127.0.0.1',
    '127.0.0.2',
    '127.255.255.254',
    '::1',
    '0:0:0:0:0:0:0:1',
    '[::1]',
    '::ffff:127.0.0.1',
    '::FFFF:127.1.2.3',
    'localhost',
    'LOCALHOST',
    'localhost.',
  ])('%s is loopback', (host) => expect(isLoopbackHost(host)).toBe(true));

  it.each([
    '0.0.0.0',
    '::',
    '10.0.0.1',
    '192.168.1.5',
    '128.0.0.1',
    '1.127.0.0',
    '::2',
    '::ffff:10.0.0.1',
    'fe80::1%eth0',
    'example.com',
    'localhost.example.com',
    '127.0.0.1.nip.io',
    '',
    '127.1',
  ])('%s is not', (host) => expect(isLoopbackHost(host)).toBe(false));
});

describe('checkListenSecurity', () => {
  const tls = { cert: 'c', key: 'k', ca: 'a' };

  it('lets anything listen on loopback, and off loopback with both tls and a secret', () => {
    expect(() => checkListenSecurity({ host: '127.0.0.2', tls: undefined, secret: undefined })).not.toThrow();
    expect(() => checkListenSecurity({ host: '0.0.0.0', tls, secret: 'a cluster secret' })).not.toThrow();
    expect(() => checkListenSecurity({ host: '10.0.0.5', tls, secret: new Uint8Array(32) })).not.toThrow();
  });

  it.each([
    ['neither', undefined, undefined, /needs `tls: \{ cert, key, ca \}` \(PEM: mutual TLS\) and `secret`/],
    ['no tls', undefined, 'a cluster secret', /needs `tls: \{ cert, key, ca \}` \(PEM: mutual TLS\); or listen on loopback/],
    ['no secret', tls, undefined, /needs `secret` \(or LOOPBACK_SINGLETON_SECRET/],
    ['an empty secret', tls, '', /needs `secret`/],
    ['empty secret bytes', tls, new Uint8Array(0), /needs `secret`/],
  ])('refuses host 0.0.0.0 with %s, saying what to pass', (_, tlsValue, secret, message) => {
    let error: unknown;
    try {
      checkListenSecurity({ host: '0.0.0.0', tls: tlsValue, secret });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toMatch(/^Refusing to listen on `0\.0\.0\.0`: it is not a loopback address, so other machines can connect\. /);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain("`host: '127.0.0.1'`");
  });
});
