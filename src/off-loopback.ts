/**
 * Where a cluster daemon may listen. Off loopback its connections cross a network: that needs
 * TLS (the `tls` option, coming) as well as the cluster `secret`. Until TLS exists, a host
 * that is not a loopback address is refused; {@link offLoopbackRefusal} is the one place that
 * decides it, so that the `tls` option plugs in here. Imports nothing.
 */

/** 127.0.0.0/8 written as a dotted quad. */
const LOOPBACK_V4 = /^127\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** Whether `host` is a loopback address: 127.0.0.0/8, `::1` or `localhost`. */
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_V4.test(host) || host === '::1' || host === '[::1]' || host.toLowerCase() === 'localhost';
}

/** What protects a daemon's connections besides its address (the `tls` option will join `secret` here). */
export interface ListenProtection {
  /** The cluster secret was given (it always is for `scope: 'cluster'`). */
  readonly secret: boolean;
}

/**
 * Why a cluster daemon may not listen on `host` with `protection`, or undefined when it may.
 * Off loopback both TLS and the cluster secret are required; TLS does not exist yet, so any
 * host off loopback is refused.
 * @example offLoopbackRefusal('0.0.0.0', { secret: true }) // 'a daemon reachable off loopback needs ...'
 */
export function offLoopbackRefusal(host: string, protection: ListenProtection): string | undefined {
  if (isLoopbackHost(host) && protection.secret) return undefined;
  if (isLoopbackHost(host)) return 'the cluster secret (`secret`) is required';
  return (
    'a daemon reachable off loopback needs TLS (the `tls` option, not available yet) and the cluster secret (`secret`); ' +
    "use a loopback address (127.0.0.0/8, '::1' or 'localhost') until then"
  );
}
