/**
 * What the in-process cluster tests share (./client-inproc.test.ts, ./probe-inproc.test.ts,
 * ./tls-inproc.test.ts): services of `scope: 'cluster'` built from src/, whose daemons are
 * served in the test's process (test/support/in-process.ts, with the spawn mocked by the test
 * file), and a look at the keys etcd holds for a name. ./machines.ts is the same for the
 * end-to-end files, on dist/.
 */
import type { Etcd3 } from 'etcd3';
import { localSingleton, type LocalSingletonService } from '../../src/client/service.js';
import type { LocalSingletonOptions } from '../../src/options.js';
import { ETCD_ROOT } from '../../src/registry/etcd-client.js';
import { SERVICES } from '../support/in-process.js';

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

/** What `promise` rejects with; fails the test when it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error as Error & { code?: string },
  );
}
