/**
 * What an etcd fault becomes where it is thrown (src/registry/unavailable.ts): a RegistryError
 * that names the endpoints, what was being done, etcd's own words (one line) and what to check.
 */
import { describe, expect, it } from 'vitest';
import { ConnectionFailedError, RegistryError } from '../../src/errors.js';
import { registryUnavailable } from '../../src/registry/unavailable.js';

describe('registryUnavailable', () => {
  it('makes an etcd client error a RegistryError naming the endpoints, the step and what to check', () => {
    const cause = new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1\n    at the grpc stack');
    const error = registryUnavailable('etcd://127.0.0.1:1,127.0.0.2:1', 'reading the record of "counter"', cause);
    expect(error).toBeInstanceOf(RegistryError);
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect(error.code).toBe('ERR_REGISTRY_UNAVAILABLE');
    expect(error.registry).toBe('etcd://127.0.0.1:1,127.0.0.2:1');
    expect(error.cause).toBe(cause);
    expect(error.message).toBe(
      'etcd at etcd://127.0.0.1:1,127.0.0.2:1 did not answer reading the record of "counter": ' +
        '14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1; ' +
        'check that etcd runs at those endpoints, that this machine reaches them (address, port, firewall), ' +
        'and that most of its members are up (without a quorum etcd answers nothing)',
    );
  });

  it('says what a thrown non-Error was', () => {
    expect(registryUnavailable('etcd://h:1', 'x', 'deadline').message).toContain('did not answer x: deadline;');
  });

  it('returns a RegistryError as it is: said once, where it was first thrown', () => {
    const first = new RegistryError('first', { registry: 'etcd://h:1' });
    expect(registryUnavailable('etcd://other:2', 'y', first)).toBe(first);
  });
});
