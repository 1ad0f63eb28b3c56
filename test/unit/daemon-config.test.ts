import { describe, expect, it } from 'vitest';
import { invalidConfigReason } from '../../src/runtime/daemon-config.js';

const config = {
  name: 'svc',
  paths: { dir: '/r/svc', metadata: '/r/svc/metadata.json', token: '/r/svc/token', lock: '/r/svc/spawn.lock', log: '/r/svc/daemon.log' },
  factory: { module: 'file:///app/services.js', export: 'Counter', argsHash: 'a', codeHash: undefined },
  startReason: 'first',
  args: new Uint8Array([0x90]),
  factoryId: 'f',
  transport: 'tcp',
  idleTtlMs: 0,
  maxFrameBytes: 1024,
  maxQueuedCalls: 1,
  handshakeTimeoutMs: 1000,
  stallTimeoutMs: 1000,
  bootTimeoutMs: 1000,
  drainTimeoutMs: 0,
};

const reason = (overrides: Record<string, unknown>) => invalidConfigReason({ t: 'config', config: { ...config, ...overrides } });

const cluster = {
  registry: { kind: 'etcd', hosts: ['http://127.0.0.1:2379'], text: 'etcd://127.0.0.1:2379' },
  key: new Uint8Array(32),
  host: '127.0.0.2',
  leaseTtlSeconds: 2,
};

describe('invalidConfigReason: what a daemon process refuses to boot with', () => {
  it('accepts a cluster config, and names what is wrong in one', () => {
    expect(reason({ cluster })).toBeUndefined();
    expect(reason({ cluster: 'etcd' })).toBe('`cluster` is not an object');
    expect(reason({ cluster: { ...cluster, registry: { ...cluster.registry, hosts: [] } } })).toBe('`cluster.registry` is not an endpoint list');
    expect(reason({ cluster: { ...cluster, key: new Uint8Array(8) } })).toBe('`cluster.key` is not a key');
    expect(reason({ cluster: { ...cluster, host: '' } })).toBe('`cluster.host` is not a host');
    expect(reason({ cluster: { ...cluster, leaseTtlSeconds: 0 } })).toBe('`cluster.leaseTtlSeconds` is not an integer >= 1');
  });

  it('accepts a complete config, with or without the standby flag', () => {
    expect(reason({})).toBeUndefined();
    expect(reason({ budgetFromConfig: true })).toBeUndefined();
    expect(reason({ budgetFromConfig: false, firstClientWithinMs: 0 })).toBeUndefined();
  });

  it('accepts a host and TLS material (strings, or bytes as the spawn channel delivers Buffers)', () => {
    expect(reason({ host: '127.0.0.2' })).toBeUndefined();
    expect(reason({ host: '127.0.0.2', tls: { cert: 'c', key: 'k', ca: 'a' } })).toBeUndefined();
    expect(reason({ tls: { cert: new Uint8Array(1), key: new Uint8Array(1), ca: new Uint8Array(1) } })).toBeUndefined();
  });

  it('names the field that is wrong', () => {
    expect(invalidConfigReason(null)).toBe('not an object');
    expect(invalidConfigReason({ t: 'hello', config })).toBe('not a config message');
    expect(reason({ name: 1 })).toBe('`name` is not a string');
    expect(reason({ budgetFromConfig: 'yes' })).toBe('`budgetFromConfig` is not a boolean');
    expect(reason({ bootTimeoutMs: 0 })).toBe('`bootTimeoutMs` is not a number > 0');
    expect(reason({ idleTtlMs: -1 })).toBe('`idleTtlMs` is not a number >= 0');
    expect(reason({ firstClientWithinMs: -1 })).toBe('`firstClientWithinMs` is not a number >= 0');
    expect(reason({ args: [0x90] })).toBe('`args` is not bytes');
    expect(reason({ factory: { module: 'x' } })).toBe('`factory` is incomplete');
    expect(reason({ factory: { ...config.factory, execArgv: [1] } })).toBe('`factory.execArgv` is not an array of strings');
    expect(reason({ paths: { dir: '/r/svc' } })).toBe('`paths` is incomplete');
    expect(reason({ host: '' })).toBe('`host` is not a non-empty string');
    expect(reason({ host: 1 })).toBe('`host` is not a non-empty string');
    expect(reason({ tls: null })).toBe('`tls` is not { cert, key, ca } of PEM strings or bytes');
    expect(reason({ tls: { cert: 'c', key: 'k' } })).toBe('`tls` is not { cert, key, ca } of PEM strings or bytes');
  });
});
