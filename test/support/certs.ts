/**
 * Certificates for the TLS tests, made with Debian's `openssl` in a temp dir that is removed
 * before returning: a CA; a daemon's certificate from it with the test machines' addresses
 * as SANs (IP 127.0.0.1, 127.0.0.2, 127.0.0.3, DNS localhost) and both TLS purposes (in a
 * cluster a machine hosts daemons and runs clients); a client's certificate from it; a second,
 * unrelated CA with a client certificate of its own; and a daemon certificate from the first
 * CA for an address the tests never dial (10.0.0.1). P-256 keys: made in milliseconds.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TlsMaterial } from '../../src/net/tls-material.js';

/** A certificate and its private key, PEM. */
export interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

/** What {@link makeTestCerts} makes (PEM strings). */
export interface TestCerts {
  /** The cluster's CA. */
  readonly ca: string;
  /** A daemon's certificate from `ca`: SANs 127.0.0.1-3 and localhost, server and client purposes. */
  readonly daemon: KeyPair;
  /** A client's certificate from `ca` (client purpose only). */
  readonly client: KeyPair;
  /** A CA unrelated to `ca`. */
  readonly otherCa: string;
  /** A client's certificate from `otherCa`. */
  readonly otherClient: KeyPair;
  /** A daemon's certificate from `ca` for 10.0.0.1 only: not the address the tests dial. */
  readonly elsewhere: KeyPair;
}

const CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[daemon]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = IP:127.0.0.1,IP:127.0.0.2,IP:127.0.0.3,DNS:localhost
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
[elsewhere]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = IP:10.0.0.1
authorityKeyIdentifier = keyid
`;

const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * Makes the test certificates (valid for 2 days) with `openssl`, reads them and removes the
 * temp dir.
 * @throws when `openssl` is not installed (Debian: `apt-get install openssl`; .ci/run installs it).
 */
export function makeTestCerts(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'lbs-certs-'));
  try {
    const config = join(dir, 'openssl.cnf');
    writeFileSync(config, CONFIG);
    const openssl = (...args: string[]) => {
      try {
        execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
      } catch (error) {
        const { code, stderr } = error as { code?: string; stderr?: Buffer };
        if (code === 'ENOENT') throw new Error('openssl is not installed (apt-get install openssl; .ci/run installs it): the TLS tests need it');
        throw new Error(`openssl ${args.join(' ')} failed: ${stderr?.toString() ?? String(error)}`);
      }
    };
    const makeCa = (name: string) =>
      openssl(
        'req',
        '-x509',
        '-config',
        config,
        '-extensions',
        'ca',
        ...NEW_KEY,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.pem`,
        '-days',
        '2',
        '-subj',
        `/CN=lbs test ${name}`,
      );
    let serial = 1;
    const issue = (name: string, ca: string, extensions: string) => {
      openssl('req', '-new', '-config', config, ...NEW_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=lbs test ${name}`);
      openssl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${ca}.pem`,
        '-CAkey',
        `${ca}.key`,
        '-set_serial',
        String(serial++),
        '-days',
        '2',
        '-extfile',
        config,
        '-extensions',
        extensions,
        '-out',
        `${name}.pem`,
      );
    };
    makeCa('ca');
    makeCa('other-ca');
    issue('daemon', 'ca', 'daemon');
    issue('client', 'ca', 'client');
    issue('other-client', 'other-ca', 'client');
    issue('elsewhere', 'ca', 'elsewhere');
    const read = (file: string) => readFileSync(join(dir, file), 'utf8');
    const pair = (name: string): KeyPair => ({ cert: read(`${name}.pem`), key: read(`${name}.key`) });
    return {
      ca: read('ca.pem'),
      daemon: pair('daemon'),
      client: pair('client'),
      otherCa: read('other-ca.pem'),
      otherClient: pair('other-client'),
      elsewhere: pair('elsewhere'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `pair` with `ca` as the `tls` option. */
export function material(pair: KeyPair, ca: string): TlsMaterial {
  return { cert: pair.cert, key: pair.key, ca };
}
