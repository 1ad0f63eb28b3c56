/**
 * The options of `scope: 'cluster'` (`registry`, `secret`, `host`, `tls`, `leaseTtlSeconds`),
 * checked once, at the boundary, by `resolveOptions()` (./options.ts). Imports nothing from
 * ./registry/ or ./net/: the endpoint list is checked for presence here and parsed, and the
 * `tls` PEM parsed and matched, when the cluster session loads (./client/cluster-starter.ts),
 * so that the local default loads none of it.
 */
import { numberOption, show } from './option-checks.js';
import { checkListenSecurity } from './listen-security.js';
import type { LocalSingletonOptions } from './options.js';

/** The environment variable that names the registry when the option does not (as ./registry/endpoints.ts). */
export const REGISTRY_ENV = 'LOOPBACK_SINGLETON_REGISTRY';

/** The environment variable that holds the cluster secret when the option does not. */
export const SECRET_ENV = 'LOOPBACK_SINGLETON_SECRET';

/** The shortest cluster secret, bytes. */
export const MIN_SECRET_BYTES = 16;

/** The longest lease TTL, seconds: its ms must fit a timer. */
const MAX_LEASE_TTL_SECONDS = 2_147_483;

/** The options that only `scope: 'cluster'` takes. */
export const CLUSTER_ONLY = ['registry', 'secret', 'host', 'tls', 'leaseTtlSeconds'] as const;

/** The cluster options, resolved. */
export interface ResolvedCluster {
  /** The endpoint list as given (option or env), parsed when the cluster session loads. */
  readonly registry: string;
  /** The cluster secret's bytes: the handshake's key is derived from it (never sent). */
  readonly secret: Buffer;
  /** Where a daemon started from this process listens, and what it publishes (a wildcard: this machine's address). */
  readonly host: string;
  /** Mutual TLS for the daemon and its clients (required off loopback); its PEM is parsed when the cluster session loads. */
  readonly tls: ClusterTls | undefined;
  readonly leaseTtlSeconds: number;
}

/** The `tls` option: PEM text or bytes, as read from the files. */
export interface ClusterTls {
  /** This machine's certificate (its daemon's, and its clients'), issued by `ca`. */
  readonly cert: string | Uint8Array;
  /** Its private key (not encrypted). */
  readonly key: string | Uint8Array;
  /** The CA every machine's certificate comes from: the only one trusted. */
  readonly ca: string | Uint8Array;
}

/** The `tls` option, checked for its shape (the PEM itself is checked when the cluster session loads). */
function resolveTls(value: unknown): ClusterTls | undefined {
  if (value === undefined) return undefined;
  const tls = value as Record<string, unknown> | null;
  if (typeof tls !== 'object' || tls === null || Array.isArray(tls)) {
    throw new TypeError(`Expected \`tls\` to be { cert, key, ca } (PEM strings or Buffers, e.g. readFileSync('ca.pem')), got ${show(value)}`);
  }
  for (const part of ['cert', 'key', 'ca'] as const) {
    const pem = tls[part];
    if (!(typeof pem === 'string' || pem instanceof Uint8Array) || pem.length === 0) {
      throw new TypeError(`Expected \`tls.${part}\` to be PEM text (a string or a Buffer, e.g. readFileSync('${part}.pem')), got ${show(pem)}`);
    }
  }
  return { cert: tls.cert as string | Uint8Array, key: tls.key as string | Uint8Array, ca: tls.ca as string | Uint8Array };
}

/** The defaults of the cluster options. */
export const CLUSTER_DEFAULTS = { host: '127.0.0.1', leaseTtlSeconds: 5 } as const;

/** The `secret` option (or env) as bytes, checked. */
function resolveSecret(given: unknown): Buffer {
  const fromEnv = given === undefined;
  const value = fromEnv ? process.env[SECRET_ENV] : given;
  const name = fromEnv ? `env ${SECRET_ENV}` : '`secret`';
  if (value === undefined || value === '') {
    throw new TypeError(
      `scope 'cluster' needs a cluster secret: pass { secret: '<at least ${MIN_SECRET_BYTES} bytes>' } or set ${SECRET_ENV}, ` +
        'the same on every machine (each machine has its own runtime dir, so the per-user token file cannot be shared)',
    );
  }
  let bytes: Buffer;
  if (typeof value === 'string') bytes = Buffer.from(value, 'utf8');
  else if (value instanceof Uint8Array) bytes = Buffer.from(value);
  else throw new TypeError(`Expected \`secret\` to be a string or a Buffer of at least ${MIN_SECRET_BYTES} bytes, got ${show(value)}`);
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new TypeError(`Expected ${name} to be at least ${MIN_SECRET_BYTES} bytes long, got ${bytes.length} byte(s)`);
  }
  return bytes;
}

/** The `registry` option (or env), checked for presence; its syntax is checked when it is parsed. */
function resolveRegistry(given: unknown): string {
  const value = given === undefined ? process.env[REGISTRY_ENV] : given;
  if (value === undefined || value === '') {
    throw new TypeError(`scope 'cluster' needs the etcd cluster: pass { registry: 'etcd://10.0.0.1:2379,10.0.0.2:2379' } or set ${REGISTRY_ENV}`);
  }
  if (typeof value !== 'string') throw new TypeError(`Expected \`registry\` to be a list of etcd endpoints like 'etcd://127.0.0.1:2379', got ${show(value)}`);
  return value;
}

/**
 * The cluster options of `options`: undefined for the local scope (which refuses them), the
 * resolved options for `scope: 'cluster'`.
 * @throws {TypeError} naming the option, what it expects, and what it got.
 */
export function resolveCluster(options: LocalSingletonOptions, scope: 'user' | 'cluster', transport: string): ResolvedCluster | undefined {
  if (scope !== 'cluster') {
    for (const key of CLUSTER_ONLY) {
      if (options[key] !== undefined) throw new TypeError(`The option \`${key}\` is for scope 'cluster' only; pass { scope: 'cluster' } with it, or leave it out`);
    }
    return undefined;
  }
  if (transport !== 'tcp') {
    throw new TypeError(`scope 'cluster' needs transport 'tcp' (other machines reach the daemon over the network), got ${show(transport)}`);
  }
  const registry = resolveRegistry(options.registry);
  const secret = resolveSecret(options.secret);
  const host = options.host === undefined ? CLUSTER_DEFAULTS.host : options.host;
  if (typeof host !== 'string' || host.length === 0 || host.length > 253) {
    throw new TypeError(`Expected \`host\` to be the address the daemon listens on, such as '127.0.0.1', got ${show(host)}`);
  }
  const tls = resolveTls(options.tls);
  checkListenSecurity({ host, tls, secret });
  const leaseTtlSeconds = numberOption(options, 'leaseTtlSeconds', CLUSTER_DEFAULTS.leaseTtlSeconds, 1, true, MAX_LEASE_TTL_SECONDS);
  return { registry, secret, host, tls, leaseTtlSeconds };
}
