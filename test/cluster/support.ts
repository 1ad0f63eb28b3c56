/**
 * What the cluster registry tests share: opening registries on a test cluster (closed when
 * the test ends), records to publish, and a promise's state without waiting for it.
 */
import { randomUUID } from 'node:crypto';
import { onTestFinished } from 'vitest';
import { parseRegistryEndpoints } from '../../src/registry/endpoints.js';
import { type EtcdRegistry, openEtcdRegistry } from '../../src/registry/etcd.js';
import type { ClusterRecord } from '../../src/registry/record.js';

/** The lease TTL the tests use: etcd's minimum with the test cluster's timings is 1 s. */
export const TTL_SECONDS = 2;

/** Opens a registry for `name` on `registry` (an endpoint list), closed when the test ends. */
export async function openRegistry(registry: string, name: string): Promise<EtcdRegistry> {
  const opened = await openEtcdRegistry({ endpoints: parseRegistryEndpoints(registry), name, leaseTtlSeconds: TTL_SECONDS, requestTimeoutMs: 1000 });
  onTestFinished(() => opened.close());
  return opened;
}

/** A record for a daemon that would listen on `host:port`. */
export function record(host = '127.0.0.2', port = 4000): ClusterRecord {
  return {
    instanceId: randomUUID(),
    host,
    port,
    factoryId: 'f'.repeat(16),
    protocolVersion: 2,
    packageVersion: '0.1.0',
    pid: process.pid,
    machine: host,
    startedAt: Date.now(),
  };
}

/** A unique singleton name per test, so that tests sharing a cluster never meet. */
export function uniqueName(label: string): string {
  return `${label}-${randomUUID().slice(0, 8)}`;
}

/** A promise and how it has settled so far: `state` is read without awaiting. */
export interface Tracked<T> {
  readonly promise: Promise<T>;
  readonly state: { status: 'pending' } | { status: 'resolved'; value: T } | { status: 'rejected'; error: unknown };
}

/** Tracks `promise`'s settlement. */
export function track<T>(promise: Promise<T>): Tracked<T> {
  const tracked = { promise, state: { status: 'pending' } as Tracked<T>['state'] };
  promise.then(
    (value) => {
      tracked.state = { status: 'resolved', value };
    },
    (error: unknown) => {
      tracked.state = { status: 'rejected', error };
    },
  );
  return tracked;
}
