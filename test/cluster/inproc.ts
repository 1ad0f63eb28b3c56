/**
 * What the in-process cluster tests share (./client-inproc.test.ts, ./probe-inproc.test.ts,
 * ./tls-inproc.test.ts, ./terminate-inproc.test.ts): their etcd cluster and runtime roots, services of `scope: 'cluster'` built from src/, whose daemons are
 * served in the test's process (test/support/in-process.ts, with the spawn mocked by the test
 * file), and a look at the keys etcd holds for a name. ./machines.ts is the same for the
 * end-to-end files, on dist/.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { localSingleton, type LocalSingletonService } from '../../src/client/service.js';
import type { LocalSingletonOptions } from '../../src/options.js';
import { parseRegistryEndpoints } from '../../src/registry/endpoints.js';
import { ETCD_ROOT } from '../../src/registry/etcd-client.js';
import { type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';
import { makeRoot, removeRoot, SERVICES, stopInProcessDaemons } from '../support/in-process.js';
import { freePort } from '../support/stale.js';
import { openRegistry, record } from './support.js';

/** The cluster secret of these tests. */
export const SECRET = 'a cluster secret of the in-process tests';

/** The counter fixture (test/fixtures/services.mjs), as a factory reference. */
export const COUNTER = `${SERVICES}:Counter`;

/** What the counter fixture answers. */
export interface Counter {
  inc(): Promise<number>;
  get(): Promise<number>;
}

/**
 * A service of `name` in `scope: 'cluster'` on `registry`, its runtime files under `root`: a
 * daemon it starts listens on `host` (default 127.0.0.1) in this process.
 */
export function clusterService<T = Counter>(
  root: string,
  registry: string,
  name: string,
  extra: LocalSingletonOptions = {},
  factory = COUNTER,
): LocalSingletonService<T> {
  return localSingleton<T>(name, factory, {
    runtimeDir: root,
    scope: 'cluster',
    registry,
    secret: SECRET,
    host: '127.0.0.1',
    leaseTtlSeconds: 2,
    startTimeoutMs: 20_000,
    ...extra,
  });
}

/** The keys etcd holds for `name`, relative to its election (`daemon/<lease>`, `start/<lease>`), sorted. */
export async function electionKeys(etcd: Etcd3, name: string): Promise<string[]> {
  const prefix = `${ETCD_ROOT}election/${name}/`;
  const keys = await etcd.getAll().prefix(prefix).keys();
  return keys.map((key) => key.slice(prefix.length)).sort();
}

/**
 * Publishes for `name`, on the cluster at `registry`, the record of a daemon that never answers
 * (an address on 127.0.0.1 whose port nothing listens on). Returns the open registry, the port
 * and the record.
 */
export async function publishUnanswered(registry: string, name: string) {
  const opened = await openRegistry(registry, name);
  const port = await freePort();
  const published = record('127.0.0.1', port);
  await opened.publish(published);
  return { registry: opened, port, published };
}

/** What `promise` rejects with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error as Error & { code?: string },
  );
}

/** What the hooks of {@link inProcessClusterWorld} hold for the tests of one describe block. */
export interface ClusterWorld {
  /** A 3-member etcd cluster of the block's own. */
  readonly cluster: EtcdCluster;
  /** A client of it, for looking at the keys the tests leave. */
  readonly etcd: Etcd3;
  /** A fresh runtime root per test. */
  readonly root: string;
}

/**
 * Registers the hooks of a describe block of in-process cluster tests: its etcd cluster (started
 * once, stopped after), and per test a fresh runtime root whose in-process daemons are stopped
 * and whose files are removed after the test.
 */
export function inProcessClusterWorld(rootPrefix: string): ClusterWorld {
  const world = {} as { cluster: EtcdCluster; etcd: Etcd3; root: string };
  beforeAll(async () => {
    world.cluster = await startEtcdCluster();
    world.etcd = new Etcd3({ hosts: [...parseRegistryEndpoints(world.cluster.registry).hosts] });
  });
  afterAll(async () => {
    world.etcd?.close();
    await world.cluster?.stop();
  });
  beforeEach(() => {
    world.root = makeRoot(rootPrefix);
  });
  afterEach(async () => {
    await stopInProcessDaemons();
    removeRoot(world.root);
  });
  return world;
}
