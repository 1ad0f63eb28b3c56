/**
 * The etcd client (`etcd3`, an optional peer dependency), loaded on first use, and connected
 * the one way this package uses it: shared by the registry (./etcd.ts) and the listing
 * (./etcd-list.ts). The only module that imports etcd3 at run time.
 */
import type { Etcd3 } from 'etcd3';
import { LoopbackSingletonError } from '../errors.js';
import { loadOwnModule } from '../runtime/local-fault.js';
import type { RegistryEndpoints } from './endpoints.js';

/** etcd3's module. */
export type Etcd3Module = typeof import('etcd3');

/** Where every key of this package lives in etcd. */
export const ETCD_ROOT = 'loopback-singleton/';

let etcd3: Promise<Etcd3Module> | undefined;

/**
 * The longest one etcd request of a process that has just loaded etcd3 waits (a start's, `list
 * --registry`'s read): the first one also opens etcd3's gRPC channel, which on a loaded machine
 * takes seconds (2 s was seen to run out).
 */
export const COLD_REQUEST_TIMEOUT_MS = 5000;

/** What to install for `scope: 'cluster'`: etcd3 is an optional peer dependency (package.json). */
export const ETCD3_INSTALL = 'npm install etcd3@~1.1.2';

/**
 * etcd3, loaded on first use (Node's CommonJS interop gives its exports as `default` too).
 * It is an optional peer dependency, so that a local user installs no gRPC: when it is not
 * installed, the error says what to install. A failed load is not cached: once installed, the
 * next open loads it.
 */
export function loadEtcd3(): Promise<Etcd3Module> {
  etcd3 ??= loadOwnModule('the etcd client (etcd3)', async () => {
    const module = (await import('etcd3').catch(explainMissingEtcd3)) as Etcd3Module & { default?: Etcd3Module };
    return typeof module.Etcd3 === 'function' ? module : module.default!;
  });
  etcd3.catch(() => {
    etcd3 = undefined;
  });
  return etcd3;
}

/** A missing etcd3 (not a broken one) becomes an error that says what to install. */
function explainMissingEtcd3(error: unknown): never {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && typeof message === 'string' && /['"]etcd3['"]/.test(message)) {
    throw new LoopbackSingletonError(
      `scope 'cluster' needs the etcd client, an optional peer dependency that is not installed: run \`${ETCD3_INSTALL}\` in your project`,
      { cause: error },
    );
  }
  throw error;
}

/**
 * A client of the etcd cluster at `endpoints`: a deadline of `requestTimeoutMs` on every
 * request, none on streams (keepalives, watches); without a quorum a request would otherwise
 * wait for one. etcd3 tries a failed request again (three times, on another member when there
 * is one), each try with that deadline: {@link withinRequestTimeout} bounds the whole. Connects
 * lazily: the first request does.
 */
export function etcdClient(module: Etcd3Module, endpoints: RegistryEndpoints, requestTimeoutMs: number): Etcd3 {
  return new module.Etcd3({
    hosts: [...endpoints.hosts],
    dialTimeout: requestTimeoutMs,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + requestTimeoutMs }),
  });
}

/**
 * `request`, or a rejection once `timeoutMs` passed: the whole of one etcd request, etcd3's
 * retries included, or the creation of a watch stream (which etcd3 would wait for forever).
 * What comes after the deadline is ignored; closing the client ends it.
 */
export async function withinRequestTimeout<T>(request: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([request, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
