/**
 * The rule for listening off loopback: a daemon that other machines can reach listens only
 * with TLS (`tls`, ./net/tls.ts) and a cluster secret (`secret`, the handshake's HMAC key in place
 * of the per-user token file). On loopback neither is needed: only this machine's users can
 * connect, and the token file is readable by this user alone. Imports nothing: the options
 * check it at construction (./cluster-options.ts), and the local default loads it for nothing more.
 */

/** A dotted-quad IPv4 address. */
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** `::ffff:127.x.y.z` after URL canonicalisation: `[::ffff:7fxx:yyzz]`. */
const MAPPED_LOOPBACK = /^\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]$/;

/**
 * Whether `host` is a loopback address: 127.0.0.0/8, `::1`, an IPv4-mapped `::ffff:127.x.y.z`,
 * or `localhost` (RFC 6761: it names loopback). Every other name and address is not, `0.0.0.0`
 * and `::` (every interface) included.
 * @example
 * isLoopbackHost('127.0.0.2'); // true
 * isLoopbackHost('0.0.0.0'); // false
 */
export function isLoopbackHost(host: string): boolean {
  if (/^localhost\.?$/i.test(host)) return true;
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (IPV4.test(bare)) return bare.startsWith('127.');
  if (!bare.includes(':')) return false;
  // URL writes an IPv6 address in its one canonical form (zeros compressed, hex lower case);
  // it refuses what is not one, and a zone id (`fe80::1%eth0`), never loopback.
  let canonical: string;
  try {
    canonical = new URL(`http://[${bare}]/`).hostname;
  } catch {
    return false;
  }
  return canonical === '[::1]' || MAPPED_LOOPBACK.test(canonical);
}

/** What {@link checkListenSecurity} looks at. */
export interface ListenSecurity {
  /** The address the daemon listens on. */
  readonly host: string;
  /** The `tls` option, if given (checked when the cluster session loads: ./net/tls-material.ts). */
  readonly tls: unknown;
  /** The cluster secret, if given (checked elsewhere). */
  readonly secret: unknown;
}

/** Whether a secret was given at all: a non-empty string or non-empty bytes. */
function given(secret: unknown): boolean {
  return (typeof secret === 'string' && secret.length > 0) || (secret instanceof Uint8Array && secret.byteLength > 0);
}

/**
 * Refuses to listen off loopback without both TLS and a cluster secret.
 * @throws {TypeError} when `host` is not loopback and `tls` or `secret` is missing, saying
 *   which and what to pass.
 * @example
 * checkListenSecurity({ host: '0.0.0.0', tls: undefined, secret: undefined }); // throws
 */
export function checkListenSecurity({ host, tls, secret }: ListenSecurity): void {
  if (isLoopbackHost(host)) return;
  const missing = [
    ...(tls === undefined || tls === null ? ['`tls: { cert, key, ca }` (PEM: mutual TLS)'] : []),
    ...(given(secret) ? [] : ['`secret` (or LOOPBACK_SINGLETON_SECRET: the handshake key every machine shares)']),
  ];
  if (missing.length === 0) return;
  throw new TypeError(
    `Refusing to listen on \`${host}\`: it is not a loopback address, so other machines can connect. ` +
      `Off loopback the daemon needs ${missing.join(' and ')}; or listen on loopback (\`host: '127.0.0.1'\`)`,
  );
}
