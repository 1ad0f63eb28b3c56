/**
 * The address a cluster daemon publishes for the other machines: the `host` it listens on, or,
 * for a wildcard (`0.0.0.0`, `::`: every interface), this machine's first non-internal address
 * of that family (IPv4 for `0.0.0.0`; for `::`, IPv6 outside link-local, else IPv4), so that
 * the record never says `0.0.0.0`. Its certificate must name that address.
 */
import { networkInterfaces } from 'node:os';

/** What {@link advertisedHost} reads the machine's interfaces with (a seam for tests). */
export type Interfaces = () => ReturnType<typeof networkInterfaces>;

/**
 * The address to publish for a daemon listening on `host`.
 * @throws {Error} for a wildcard on a machine with no non-internal address of that family: it
 *   could not be reached from another machine, and says so.
 * @example advertisedHost('0.0.0.0') // '10.0.0.5'
 */
export function advertisedHost(host: string, interfaces: Interfaces = networkInterfaces): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare !== '0.0.0.0' && bare !== '::') return host;
  const external = Object.values(interfaces())
    .flatMap((list) => list ?? [])
    .filter((entry) => !entry.internal);
  const v4 = external.find((entry) => entry.family === 'IPv4');
  const v6 = external.find((entry) => entry.family === 'IPv6' && !/^fe80:/i.test(entry.address));
  const chosen = bare === '0.0.0.0' ? v4 : (v6 ?? v4);
  if (chosen === undefined) {
    throw new Error(
      `The daemon listens on \`${host}\` (every interface), but this machine has no address other machines can reach it at: give \`host\` one of its addresses`,
    );
  }
  return chosen.address;
}
