/**
 * The registry endpoint list of `scope: 'cluster'`: `etcd://host:port,host:port,...`, from the
 * `registry` option or env `LOOPBACK_SINGLETON_REGISTRY`. Parsed and validated once, at the
 * boundary; a bad list is a `TypeError` that says what is wrong and what to write instead.
 * Imports nothing: the local default never loads the etcd client, and neither does this.
 */

/** The environment variable that names the registry when the option does not. */
export const REGISTRY_ENV = 'LOOPBACK_SINGLETON_REGISTRY';

/** etcd's client port, used when an endpoint names none. */
export const DEFAULT_ETCD_PORT = 2379;

/** Endpoints in one list at most: etcd clusters have 3, 5 or 7 members. */
const MAX_ENDPOINTS = 32;

/** A parsed registry endpoint list. */
export interface RegistryEndpoints {
  /** The store behind the list; only etcd exists. */
  readonly kind: 'etcd';
  /** Each member's client URL, as the etcd client takes it: `http://127.0.0.1:2379`, `http://[::1]:2379`. */
  readonly hosts: readonly string[];
  /** The list in its canonical form (`etcd://127.0.0.1:2379,127.0.0.2:2379`), for messages and `list --registry`. */
  readonly text: string;
}

const EXAMPLE = 'etcd://127.0.0.1:2379,127.0.0.2:2379';

/** A DNS name: labels of letters, digits and inner hyphens. */
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;
const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;

function fail(source: string, value: string, problem: string): never {
  throw new TypeError(`Expected \`${source}\` to be a list of etcd endpoints like \`${EXAMPLE}\`, got ${JSON.stringify(value)}: ${problem}`);
}

/** One `host[:port]` of the list, as `[url, canonical]`. */
function parseEndpoint(source: string, value: string, entry: string): [string, string] {
  let host: string;
  let portText: string | undefined;
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']');
    if (close < 0) fail(source, value, `\`${entry}\` opens an IPv6 address with [ but never closes it`);
    host = entry.slice(1, close);
    const rest = entry.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) fail(source, value, `\`${entry}\` has \`${rest}\` after the IPv6 address; write [address]:port`);
    portText = rest === '' ? undefined : rest.slice(1);
    if (!IPV6.test(host) || !host.includes(':')) fail(source, value, `\`${host}\` is not an IPv6 address`);
  } else {
    const parts = entry.split(':');
    if (parts.length > 2) fail(source, value, `\`${entry}\` has more than one \`:\`; write an IPv6 address in brackets: [::1]:2379`);
    host = parts[0]!;
    portText = parts[1];
    if (host === '') fail(source, value, `\`${entry}\` has no host`);
    if (/^[\d.]+$/.test(host) ? !IPV4.test(host) : !HOSTNAME.test(host)) fail(source, value, `\`${host}\` is neither an IPv4 address nor a host name`);
  }
  let port = DEFAULT_ETCD_PORT;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      fail(source, value, `the port of \`${entry}\` is not a number between 1 and 65535`);
    }
    port = Number(portText);
  }
  const shown = host.includes(':') ? `[${host.toLowerCase()}]` : host.toLowerCase();
  return [`http://${shown}:${port}`, `${shown}:${port}`];
}

/**
 * Parses an endpoint list: `etcd://` then one or more `host[:port]` separated by commas
 * (IPv4, `[IPv6]` or a host name; port 2379 when none is given). `source` names where the
 * text came from, for the message (`registry`, `LOOPBACK_SINGLETON_REGISTRY`).
 * @example parseRegistryEndpoints('etcd://10.0.0.1,10.0.0.2:2380').hosts // ['http://10.0.0.1:2379', 'http://10.0.0.2:2380']
 * @throws {TypeError} naming what is wrong (scheme, an empty entry, a bad host or port, a duplicate, a path or credentials).
 */
export function parseRegistryEndpoints(value: unknown, source = 'registry'): RegistryEndpoints {
  if (typeof value !== 'string') {
    throw new TypeError(`Expected \`${source}\` to be a string like \`${EXAMPLE}\`, got ${value === null ? 'null' : typeof value}`);
  }
  const text = value.trim();
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text);
  if (scheme === null) fail(source, value, 'it does not start with `etcd://`');
  if (scheme[1]!.toLowerCase() !== 'etcd') {
    const hint = scheme[1]!.toLowerCase() === 'etcds' ? ' (TLS to etcd is not supported yet)' : '';
    fail(source, value, `\`${scheme[1]}://\` is not a registry this package knows; only \`etcd://\` is${hint}`);
  }
  const list = text.slice(scheme[0].length);
  if (list === '') fail(source, value, 'it names no endpoint after `etcd://`');
  if (/[/?#@\s]/.test(list)) fail(source, value, 'an endpoint is `host:port` only: no path, query, credentials or spaces');
  const entries = list.split(',');
  if (entries.length > MAX_ENDPOINTS) fail(source, value, `it names ${entries.length} endpoints; at most ${MAX_ENDPOINTS}`);
  const hosts: string[] = [];
  const shown: string[] = [];
  for (const entry of entries) {
    if (entry === '') fail(source, value, 'it has an empty entry (two commas in a row, or one at an end)');
    const [url, canonical] = parseEndpoint(source, value, entry);
    if (hosts.includes(url)) fail(source, value, `\`${canonical}\` is named twice`);
    hosts.push(url);
    shown.push(canonical);
  }
  return { kind: 'etcd', hosts, text: `etcd://${shown.join(',')}` };
}

/**
 * The registry of a cluster singleton: the option when given, else `LOOPBACK_SINGLETON_REGISTRY`.
 * @throws {TypeError} when neither is set (saying how to set one), or the one found is not a valid list.
 */
export function resolveRegistryEndpoints(option: unknown, env: NodeJS.ProcessEnv = process.env): RegistryEndpoints {
  if (option !== undefined) return parseRegistryEndpoints(option, 'registry');
  const fromEnv = env[REGISTRY_ENV];
  if (fromEnv === undefined || fromEnv.trim() === '') {
    throw new TypeError(`\`scope: 'cluster'\` needs a registry: pass \`registry: '${EXAMPLE}'\` (your etcd cluster's client endpoints) or set ${REGISTRY_ENV}`);
  }
  return parseRegistryEndpoints(fromEnv, REGISTRY_ENV);
}
