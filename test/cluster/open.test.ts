/**
 * Opening the etcd registry: its options are checked before anything loads, and an etcd that
 * cannot be reached makes a read `unreadable` (never `absent`: no daemon must be started on
 * it), naming the endpoints. Needs no etcd.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { parseRegistryEndpoints } from '../../src/registry/endpoints.js';
import { openEtcdRegistry } from '../../src/registry/etcd.js';

// Port 1 on loopback: nothing listens there, so every connection is refused at once.
const NOWHERE = parseRegistryEndpoints('etcd://127.0.0.1:1');

describe('opening the etcd registry', () => {
  it.each([
    [{ leaseTtlSeconds: 0 }, 'Expected `leaseTtlSeconds` to be an integer >= 1, got 0'],
    [{ leaseTtlSeconds: 1.5 }, 'Expected `leaseTtlSeconds` to be an integer >= 1, got 1.5'],
    [{ requestTimeoutMs: 0 }, 'Expected `requestTimeoutMs` to be a finite number >= 1, got 0'],
    [{ requestTimeoutMs: Number.POSITIVE_INFINITY }, 'Expected `requestTimeoutMs` to be a finite number >= 1, got Infinity'],
  ])('%o is refused', async (options, message) => {
    await expect(openEtcdRegistry({ endpoints: NOWHERE, name: 'x', ...options })).rejects.toThrow(new TypeError(message));
  });

  it('an etcd nobody answers for: the read is unreadable, naming the endpoints, and nothing is published', async () => {
    const registry = await openEtcdRegistry({ endpoints: NOWHERE, name: 'nowhere', requestTimeoutMs: 300 });
    onTestFinished(() => registry.close());
    const read = await registry.discover();
    expect(read.status).toBe('unreadable');
    expect(read.status === 'unreadable' && read.reason).toMatch(/^etcd at etcd:\/\/127\.0\.0\.1:1 did not answer: /);
  });
});
