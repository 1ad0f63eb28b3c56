/**
 * The registry endpoint list (src/registry/endpoints.ts): what parses, to what, and the
 * message a bad list gets, which must say what is wrong and what to write instead.
 */
import { describe, expect, it } from 'vitest';
import { parseRegistryEndpoints, REGISTRY_ENV, resolveRegistryEndpoints } from '../../src/registry/endpoints.js';

describe('registry endpoint lists', () => {
  it.each([
    ['etcd://127.0.0.1:2379,127.0.0.2:2379', ['http://127.0.0.1:2379', 'http://127.0.0.2:2379'], 'etcd://127.0.0.1:2379,127.0.0.2:2379'],
    ['etcd://10.0.0.1', ['http://10.0.0.1:2379'], 'etcd://10.0.0.1:2379'],
    ['  ETCD://Etcd-1.Example.com:12379  ', ['http://etcd-1.example.com:12379'], 'etcd://etcd-1.example.com:12379'],
    ['etcd://[::1]:2379,[FE80::1]', ['http://[::1]:2379', 'http://[fe80::1]:2379'], 'etcd://[::1]:2379,[fe80::1]:2379'],
  ])('%s parses to its hosts and canonical text', (text, hosts, canonical) => {
    expect(parseRegistryEndpoints(text)).toEqual({ kind: 'etcd', hosts, text: canonical });
  });

  it.each([
    ['127.0.0.1:2379', 'it does not start with `etcd://`'],
    ['http://127.0.0.1:2379', '`http://` is not a registry this package knows; only `etcd://` is'],
    ['etcds://127.0.0.1:2379', 'TLS to etcd is not supported yet'],
    ['etcd://', 'it names no endpoint after `etcd://`'],
    ['etcd://127.0.0.1:2379,,127.0.0.2:2379', 'it has an empty entry'],
    ['etcd://127.0.0.1:2379,', 'it has an empty entry'],
    ['etcd://127.0.0.1:0', 'the port of `127.0.0.1:0` is not a number between 1 and 65535'],
    ['etcd://127.0.0.1:65536', 'is not a number between 1 and 65535'],
    ['etcd://127.0.0.1:http', 'is not a number between 1 and 65535'],
    ['etcd://256.1.1.1:2379', '`256.1.1.1` is neither an IPv4 address nor a host name'],
    ['etcd://bad_host:2379', '`bad_host` is neither an IPv4 address nor a host name'],
    ['etcd://:2379', 'has no host'],
    ['etcd://::1:2379', 'write an IPv6 address in brackets: [::1]:2379'],
    ['etcd://[::1:2379', 'never closes it'],
    ['etcd://[nope]:2379', '`nope` is not an IPv6 address'],
    ['etcd://127.0.0.1:2379/v3', 'no path, query, credentials or spaces'],
    ['etcd://user:secret@127.0.0.1:2379', 'no path, query, credentials or spaces'],
    ['etcd://127.0.0.1:2379, 127.0.0.2:2379', 'no path, query, credentials or spaces'],
    ['etcd://127.0.0.1:2379,127.0.0.1', '`127.0.0.1:2379` is named twice'],
  ])('%s is refused: %s', (text, problem) => {
    const parse = () => parseRegistryEndpoints(text);
    expect(parse).toThrow(TypeError);
    expect(parse).toThrow(problem);
    // Every message shows what a good list looks like.
    expect(parse).toThrow('like `etcd://127.0.0.1:2379,127.0.0.2:2379`');
  });

  it('a value that is not a string is refused, naming its type', () => {
    expect(() => parseRegistryEndpoints(['etcd://127.0.0.1'])).toThrow('Expected `registry` to be a string like `etcd://127.0.0.1:2379,127.0.0.2:2379`, got object');
    expect(() => parseRegistryEndpoints(null)).toThrow('got null');
  });

  it('more than 32 endpoints are refused', () => {
    const text = `etcd://${Array.from({ length: 33 }, (_, i) => `10.0.0.${i + 1}`).join(',')}`;
    expect(() => parseRegistryEndpoints(text)).toThrow('it names 33 endpoints; at most 32');
  });

  it(`the option wins over ${REGISTRY_ENV}, which is used when the option is absent`, () => {
    const env = { [REGISTRY_ENV]: 'etcd://10.0.0.9' };
    expect(resolveRegistryEndpoints('etcd://10.0.0.1', env).text).toBe('etcd://10.0.0.1:2379');
    expect(resolveRegistryEndpoints(undefined, env).text).toBe('etcd://10.0.0.9:2379');
  });

  it(`an error names where the bad list came from: the option, or ${REGISTRY_ENV}`, () => {
    expect(() => resolveRegistryEndpoints('etcd://', {})).toThrow('Expected `registry` to be');
    expect(() => resolveRegistryEndpoints(undefined, { [REGISTRY_ENV]: 'etcd://,' })).toThrow(`Expected \`${REGISTRY_ENV}\` to be`);
  });

  it(`neither the option nor ${REGISTRY_ENV} (or an empty one): the error says how to set one`, () => {
    for (const env of [{}, { [REGISTRY_ENV]: '  ' }]) {
      expect(() => resolveRegistryEndpoints(undefined, env)).toThrow(
        `\`scope: 'cluster'\` needs a registry: pass \`registry: 'etcd://127.0.0.1:2379,127.0.0.2:2379'\` (your etcd cluster's client endpoints) or set ${REGISTRY_ENV}`,
      );
    }
  });
});
