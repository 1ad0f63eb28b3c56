/**
 * The options of `scope: 'cluster'` (src/cluster-options.ts, through `resolveOptions()`): what
 * they default to, where the registry and the secret come from (option, then env), and each
 * refusal (checked by the option it names).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIN_SECRET_BYTES, REGISTRY_ENV, SECRET_ENV } from '../../src/cluster-options.js';
import { type LocalSingletonOptions, resolveOptions } from '../../src/options.js';

const REGISTRY = 'etcd://127.0.0.1:2379';
const SECRET = 's'.repeat(MIN_SECRET_BYTES);

function resolveUnknown(options: unknown) {
  return resolveOptions(options as LocalSingletonOptions);
}

describe("resolveOptions: scope 'cluster'", () => {
  const saved = { registry: process.env[REGISTRY_ENV], secret: process.env[SECRET_ENV] };
  beforeEach(() => {
    delete process.env[REGISTRY_ENV];
    delete process.env[SECRET_ENV];
  });
  afterEach(() => {
    for (const [name, value] of [
      [REGISTRY_ENV, saved.registry],
      [SECRET_ENV, saved.secret],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('resolves the defaults: host 127.0.0.1, a 5 s lease, the secret as bytes', () => {
    const resolved = resolveOptions({ scope: 'cluster', registry: REGISTRY, secret: SECRET });
    expect(resolved.scope).toBe('cluster');
    expect(resolved.cluster).toEqual({ registry: REGISTRY, secret: Buffer.from(SECRET), host: '127.0.0.1', leaseTtlSeconds: 5 });
  });

  it('the local scope has no cluster options, and refuses each of them', () => {
    expect(resolveOptions({}).cluster).toBeUndefined();
    for (const key of ['registry', 'secret', 'host', 'leaseTtlSeconds']) {
      expect(() => resolveUnknown({ [key]: key === 'leaseTtlSeconds' ? 2 : 'x' }), key).toThrow(new RegExp(`\`${key}\` is for scope 'cluster' only`));
    }
  });

  it('takes the registry and the secret from the environment when the options do not give them', () => {
    process.env[REGISTRY_ENV] = 'etcd://10.0.0.1:2379';
    process.env[SECRET_ENV] = 'e'.repeat(20);
    const { cluster } = resolveOptions({ scope: 'cluster' });
    expect(cluster?.registry).toBe('etcd://10.0.0.1:2379');
    expect(cluster?.secret.toString()).toBe('e'.repeat(20));
    // The option wins over the environment.
    expect(resolveOptions({ scope: 'cluster', registry: REGISTRY, secret: Buffer.alloc(16, 7) }).cluster?.secret).toEqual(Buffer.alloc(16, 7));
  });

  it('says how to give a missing registry or secret', () => {
    expect(() => resolveOptions({ scope: 'cluster', secret: SECRET })).toThrow(new RegExp(`registry: 'etcd://.*or set ${REGISTRY_ENV}`));
    expect(() => resolveOptions({ scope: 'cluster', registry: REGISTRY })).toThrow(new RegExp(`secret: .*or set ${SECRET_ENV}`));
  });

  it.each([
    [{ secret: 'short' }, /`secret` to be at least 16 bytes long, got 5 byte/],
    [{ secret: Buffer.alloc(15) }, /at least 16 bytes long, got 15/],
    [{ secret: 42 }, /`secret` to be a string or a Buffer/],
    [{ registry: 42 }, /`registry` to be a list of etcd endpoints/],
    [{ leaseTtlSeconds: 0 }, /`leaseTtlSeconds` to be an integer between 1/],
    [{ leaseTtlSeconds: 1.5 }, /`leaseTtlSeconds` to be an integer/],
    [{ host: '' }, /`host` to be the address the daemon listens on/],
    [{ host: 7 }, /`host` to be the address/],
    [{ transport: 'ipc' }, /needs transport 'tcp'/],
    [{ host: '0.0.0.0' }, /Refusing to listen on `0\.0\.0\.0`: .*needs `tls: \{ cert, key, ca \}`/],
    [{ host: '10.1.2.3' }, /Refusing to listen on `10\.1\.2\.3`: it is not a loopback address/],
    [{ host: '128.0.0.1' }, /not a loopback address/],
    [{ tls: 'cert.pem' }, /Expected `tls` to be \{ cert, key, ca \}/],
    [{ tls: null }, /Expected `tls` to be \{ cert, key, ca \}/],
    [{ tls: { cert: 'c', key: 'k' } }, /Expected `tls.ca` to be PEM text/],
    [{ tls: { cert: '', key: 'k', ca: 'a' } }, /Expected `tls.cert` to be PEM text/],
    [{ tls: { cert: 'c', key: 42, ca: 'a' } }, /Expected `tls.key` to be PEM text .*got `42`/],
  ])('refuses %o', (extra, message) => {
    expect(() => resolveUnknown({ scope: 'cluster', registry: REGISTRY, secret: SECRET, ...extra })).toThrow(message);
  });

  it.each(['127.0.0.1', '127.0.0.2', '127.255.255.254', '::1', 'localhost'])('takes the loopback host %s', (host) => {
    expect(resolveOptions({ scope: 'cluster', registry: REGISTRY, secret: SECRET, host }).cluster?.host).toBe(host);
  });
});

describe('host and tls', () => {
  const tls = { cert: 'c', key: 'k', ca: 'a' };

  it('takes any host with tls and the secret, and keeps tls for the session to parse', () => {
    const resolved = resolveOptions({ scope: 'cluster', registry: REGISTRY, secret: SECRET, host: '0.0.0.0', tls }).cluster;
    expect(resolved?.host).toBe('0.0.0.0');
    expect(resolved?.tls).toEqual(tls);
    expect(resolveOptions({ scope: 'cluster', registry: REGISTRY, secret: SECRET }).cluster?.tls).toBeUndefined();
  });

  it('is for the cluster scope only', () => {
    expect(() => resolveUnknown({ tls })).toThrow(/The option `tls` is for scope 'cluster' only/);
  });

  it('takes PEM as Buffers too', () => {
    const bytes = { cert: Buffer.from('c'), key: Buffer.from('k'), ca: Buffer.from('a') };
    expect(resolveOptions({ scope: 'cluster', registry: REGISTRY, secret: SECRET, host: '10.0.0.5', tls: bytes }).cluster?.tls).toEqual(bytes);
  });
});

describe('clusterKey', () => {
  it('derives a 32-byte key from the secret, bound to the name; the secret itself is not it', async () => {
    const { clusterKey } = await import('../../src/wire/auth.js');
    const key = clusterKey(Buffer.from(SECRET), 'counter');
    expect(key).toHaveLength(32);
    expect(clusterKey(Buffer.from(SECRET), 'counter')).toEqual(key);
    expect(clusterKey(Buffer.from(SECRET), 'other')).not.toEqual(key);
    expect(clusterKey(Buffer.from(`${SECRET}x`), 'counter')).not.toEqual(key);
    expect(key.includes(Buffer.from(SECRET))).toBe(false);
  });
});
