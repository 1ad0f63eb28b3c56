/** The address a cluster daemon publishes (src/net/advertised.ts): never a wildcard. */
import type { NetworkInterfaceInfo } from 'node:os';
import { describe, expect, it } from 'vitest';
import { advertisedHost } from '../../src/net/advertised.js';

const entry = (address: string, family: 'IPv4' | 'IPv6', internal = false) => ({ address, family, internal }) as NetworkInterfaceInfo;
const machine = () => ({
  lo: [entry('127.0.0.1', 'IPv4', true), entry('::1', 'IPv6', true)],
  eth0: [entry('fe80::1', 'IPv6'), entry('10.0.0.5', 'IPv4'), entry('2001:db8::5', 'IPv6')],
});

describe('advertisedHost', () => {
  it('publishes the host it listens on when that is an address', () => {
    expect(advertisedHost('127.0.0.2', machine)).toBe('127.0.0.2');
    expect(advertisedHost('10.0.0.9', machine)).toBe('10.0.0.9');
  });

  it("publishes this machine's first non-internal address for a wildcard", () => {
    expect(advertisedHost('0.0.0.0', machine)).toBe('10.0.0.5');
    expect(advertisedHost('::', machine)).toBe('2001:db8::5');
    expect(advertisedHost('[::]', machine)).toBe('2001:db8::5');
    // No routable IPv6: an IPv4 address, never a link-local one.
    expect(advertisedHost('::', () => ({ eth0: [entry('fe80::1', 'IPv6'), entry('10.0.0.5', 'IPv4')] }))).toBe('10.0.0.5');
  });

  it('refuses a wildcard on a machine with only loopback, saying what to give', () => {
    expect(() => advertisedHost('0.0.0.0', () => ({ lo: [entry('127.0.0.1', 'IPv4', true)] }))).toThrow(
      /no address other machines can reach it at: give `host` one of its addresses/,
    );
    expect(() => advertisedHost('[::]', () => ({ lo: [entry('::1', 'IPv6', true)] }))).toThrow(
      new Error('The daemon listens on `[::]` (every interface), but this machine has no address other machines can reach it at: give `host` one of its addresses'),
    );
  });

  it('refuses 0.0.0.0 on a machine with only IPv6 addresses, and :: with only a link-local one', () => {
    expect(() => advertisedHost('0.0.0.0', () => ({ eth0: [entry('2001:db8::5', 'IPv6')] }))).toThrow(/^The daemon listens on `0\.0\.0\.0` \(every interface\)/);
    expect(() => advertisedHost('::', () => ({ eth0: [entry('fe80::1', 'IPv6')] }))).toThrow(/^The daemon listens on `::` \(every interface\)/);
  });

  it('takes only fe80: at the start of an address for link-local, in either case', () => {
    expect(advertisedHost('::', () => ({ eth0: [entry('FE80::1', 'IPv6'), entry('10.0.0.5', 'IPv4')] }))).toBe('10.0.0.5');
    expect(advertisedHost('::', () => ({ eth0: [entry('2001:db8:fe80::5', 'IPv6'), entry('10.0.0.5', 'IPv4')] }))).toBe('2001:db8:fe80::5');
  });

  it('skips an interface with no address list', () => {
    expect(advertisedHost('0.0.0.0', () => ({ tun0: undefined, eth0: [entry('10.0.0.5', 'IPv4')] }))).toBe('10.0.0.5');
  });

  it('strips brackets only when both are there: any other host is published as given', () => {
    for (const host of ['[0.0.0.0', '0.0.0.0]', 'x0.0.0.0]', '[0.0.0.0x', 'x::]', '[::x', '[::', '::]']) {
      expect(advertisedHost(host, machine)).toBe(host);
    }
  });
});
