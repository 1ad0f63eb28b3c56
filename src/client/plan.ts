/**
 * What one connect attempt works with: resolved by the service (./service.ts), given to the
 * client statechart as its input, and handed by the chart to each effect (./starter.ts).
 * Types only.
 */
import type { TlsMaterial } from '../net/tls-material.js';
import type { ResolvedOptions } from '../options.js';
import type { RegistryEndpoints } from '../registry/endpoints.js';
import type { FileRegistry } from '../registry/file.js';
import type { ClusterRecord } from '../registry/record.js';
import type { Registry } from '../registry/registry.js';
import type { FactoryIdentity, RuntimePaths } from '../types.js';
import type { Standby } from './standby.js';

/** Everything an attempt needs, resolved by the service. */
export interface StartPlan {
  readonly name: string;
  readonly paths: RuntimePaths;
  readonly options: ResolvedOptions;
  readonly factory: FactoryIdentity;
  readonly factoryId: string;
  readonly encodedArgs: Uint8Array;
}

/** One attempt: its plan, its deadline and its standby. */
export interface StartAttempt {
  readonly plan: StartPlan;
  /** When the start budget runs out, on the monotonic clock (performance.now()). */
  readonly deadline: number;
  /** A daemon process spawned ahead (see ./standby.ts): the spawn step sends it the config. */
  readonly standby: Standby | undefined;
  /** The local scope: the registry on the runtime files, made for the attempt (../registry/file.ts, ./starter.ts). */
  readonly files?: FileRegistry;
  /** `scope: 'cluster'`: the registry this attempt works on, and its handshake key (./cluster-starter.ts). */
  readonly cluster?: ClusterAttempt;
}

/** What an attempt of `scope: 'cluster'` works with besides its plan. */
export interface ClusterAttempt {
  /** The etcd registry of the singleton's name, open for the attempt. */
  readonly registry: Registry<ClusterRecord>;
  readonly endpoints: RegistryEndpoints;
  /** The handshake key, derived from the cluster secret and the name (../wire/auth.ts `clusterKey`). */
  readonly key: Uint8Array;
  /** Start rights being given up: waited for before the registry closes. */
  readonly releases: Set<Promise<void>>;
  /** The `tls` option, its PEM parsed and its key matched to its certificate (../net/tls-material.ts). */
  readonly tls: TlsMaterial | undefined;
}
