/**
 * What a spawner tells a new daemon (over the spawn IPC channel) and what the daemon
 * answers. Shared by src/client/spawn.ts and src/daemon/main.ts.
 */
import type { WireError } from '../errors.js';
import type { TlsMaterial } from '../net/tls-material.js';
import type { RegistryEndpoints } from '../registry/endpoints.js';
import type { DaemonMetadata, FactoryIdentity, RuntimePaths, StartReason, Transport } from '../types.js';

/** Everything a daemon needs to boot. Every field is already validated by the spawner. */
export interface DaemonConfig {
  readonly name: string;
  readonly paths: RuntimePaths;
  /** The factory module as an absolute URL, the export path, and the hashes of its identity. */
  readonly factory: FactoryIdentity;
  readonly startReason: StartReason;
  /** The factory arguments, MessagePack-encoded as one array. */
  readonly args: Uint8Array;
  readonly factoryId: string;
  readonly transport: Transport;
  readonly idleTtlMs: number;
  readonly maxFrameBytes: number;
  readonly maxQueuedCalls: number;
  /** A connection that has not authenticated within this long is dropped. */
  readonly handshakeTimeoutMs: number;
  /** A connection whose partial frame makes no progress for this long is dropped. */
  readonly stallTimeoutMs: number;
  /**
   * The spawner's start budget left at the spawn: the boot (import + construct, bind,
   * publish) must end within it, counted from the daemon process's start (or from the
   * config's arrival: see `budgetFromConfig`).
   */
  readonly bootTimeoutMs: number;
  /**
   * The process was spawned before the budget was measured (a standby, src/client/standby.ts):
   * `bootTimeoutMs` and `firstClientWithinMs` count from the config's arrival. Absent: from
   * the process's start, which is when the spawner measured them.
   */
  readonly budgetFromConfig?: boolean;
  /** The most a drain may take, from its start, before the daemon exits anyway (`drainTimeoutMs`). */
  readonly drainTimeoutMs: number;
  /**
   * The daemon does not idle-exit sooner than this after its start (the spawner's budget: it
   * may still be on its way). Absent: `idleTtlMs` only.
   */
  readonly firstClientWithinMs?: number;
  /**
   * The address a tcp daemon listens on (`scope: 'cluster'`: the `host` option); off loopback
   * only with `tls`. Absent: 127.0.0.1.
   */
  readonly host?: string;
  /** Mutual TLS under the protocol (../net/tls.ts), checked by the spawner. Absent: plain TCP. */
  readonly tls?: TlsMaterial;
  /** `scope: 'cluster'`: publish in etcd instead of metadata.json. Absent: the local scope. */
  readonly cluster?: DaemonClusterConfig;
}

/** What a cluster daemon needs: where to publish, what address to publish, and its handshake key. */
export interface DaemonClusterConfig {
  /** The etcd cluster, parsed by the spawner. */
  readonly registry: RegistryEndpoints;
  /** The handshake key derived from the cluster secret (../wire/auth.ts `clusterKey`); the secret itself stays with the spawner. */
  readonly key: Uint8Array;
  /**
   * The address it publishes, as the other machines reach it: the `host` it listens on, or for
   * a wildcard (`0.0.0.0`, `::`) this machine's address (../net/advertised.ts).
   */
  readonly host: string;
  readonly leaseTtlSeconds: number;
}

/** Why `cluster` is not a usable cluster config, or undefined when it is. */
function invalidClusterReason(cluster: Record<string, unknown>): string | undefined {
  const registry = cluster.registry as Record<string, unknown> | undefined;
  if (registry?.kind !== 'etcd' || !Array.isArray(registry.hosts) || registry.hosts.length === 0 || typeof registry.text !== 'string') {
    return '`cluster.registry` is not an endpoint list';
  }
  if (!(cluster.key instanceof Uint8Array) || cluster.key.length < 16) return '`cluster.key` is not a key';
  if (typeof cluster.host !== 'string' || cluster.host.length === 0) return '`cluster.host` is not a host';
  if (!Number.isSafeInteger(cluster.leaseTtlSeconds) || (cluster.leaseTtlSeconds as number) < 1) return '`cluster.leaseTtlSeconds` is not an integer >= 1';
  return undefined;
}

/** Spawner -> daemon, the first and only message on the spawn channel. */
export interface ConfigMessage {
  readonly t: 'config';
  readonly config: DaemonConfig;
}

/** Daemon -> spawner: the outcome of booting. The daemon then closes the channel. */
export type BootReport = { readonly t: 'ready'; readonly metadata: DaemonMetadata } | { readonly t: 'failed'; readonly error: WireError };

/** Why `value` is not a usable config message, or undefined when it is. */
export function invalidConfigReason(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'not an object';
  const message = value as Partial<ConfigMessage>;
  if (message.t !== 'config' || typeof message.config !== 'object' || message.config === null) {
    return 'not a config message';
  }
  const c = message.config as unknown as Record<string, unknown>;
  for (const key of ['name', 'factoryId', 'transport'] as const) {
    if (typeof c[key] !== 'string') return `\`${key}\` is not a string`;
  }
  for (const key of ['idleTtlMs', 'drainTimeoutMs'] as const) {
    if (typeof c[key] !== 'number' || !((c[key] as number) >= 0)) return `\`${key}\` is not a number >= 0`;
  }
  for (const key of ['maxFrameBytes', 'maxQueuedCalls', 'handshakeTimeoutMs', 'stallTimeoutMs', 'bootTimeoutMs'] as const) {
    if (typeof c[key] !== 'number' || !((c[key] as number) > 0)) return `\`${key}\` is not a number > 0`;
  }
  if (c.firstClientWithinMs !== undefined && !(typeof c.firstClientWithinMs === 'number' && c.firstClientWithinMs >= 0))
    return '`firstClientWithinMs` is not a number >= 0';
  if (c.budgetFromConfig !== undefined && typeof c.budgetFromConfig !== 'boolean') return '`budgetFromConfig` is not a boolean';
  if (c.host !== undefined && (typeof c.host !== 'string' || c.host === '')) return '`host` is not a non-empty string';
  if (c.tls !== undefined) {
    // Buffers arrive as Uint8Arrays (the spawn channel's structured clone).
    const tls = c.tls as Record<string, unknown> | null;
    if (typeof tls !== 'object' || tls === null || !['cert', 'key', 'ca'].every((k) => typeof tls[k] === 'string' || tls[k] instanceof Uint8Array)) {
      return '`tls` is not { cert, key, ca } of PEM strings or bytes';
    }
  }
  if (!(c.args instanceof Uint8Array)) return '`args` is not bytes';
  if (c.cluster !== undefined) {
    if (typeof c.cluster !== 'object' || c.cluster === null) return '`cluster` is not an object';
    const reason = invalidClusterReason(c.cluster as Record<string, unknown>);
    if (reason !== undefined) return reason;
  }
  const factory = c.factory as Record<string, unknown> | undefined;
  if (typeof factory?.module !== 'string' || typeof factory.export !== 'string') return '`factory` is incomplete';
  const { execArgv } = factory;
  if (execArgv !== undefined && (!Array.isArray(execArgv) || !execArgv.every((arg) => typeof arg === 'string'))) return '`factory.execArgv` is not an array of strings';
  const paths = c.paths as Record<string, unknown> | undefined;
  if (typeof paths?.dir !== 'string' || typeof paths.metadata !== 'string' || typeof paths.log !== 'string' || typeof paths.token !== 'string') {
    return '`paths` is incomplete';
  }
  return undefined;
}
