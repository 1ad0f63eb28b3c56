/**
 * The options of `localSingleton()`: their types, their defaults, and `resolveOptions()`,
 * which validates them once, at the boundary (the per-option checks are in
 * ./option-checks.ts). Inner code takes only {@link ResolvedOptions}.
 */
import { type ClusterTls, type ResolvedCluster, resolveCluster } from './cluster-options.js';
import { durationOption, isRecord, numberOption, resolveExecArgv, resolveIdentity, resolveRestart, show } from './option-checks.js';
import { DEFAULT_MAX_FRAME_BYTES } from './wire/codec.js';
import type { Transport } from './types.js';

/** Options of {@link localSingleton}. Every field is optional. */
export interface LocalSingletonOptions {
  /**
   * Factory arguments: plain data (MessagePack-serialisable). Part of the factory identity.
   * @default []
   */
  readonly args?: readonly unknown[];
  /**
   * Who shares the daemon. `'user'`: the processes of this user on this machine (the
   * runtime files). `'cluster'`: every process on every machine that names the same etcd
   * cluster (`registry`) and `secret`; one daemon in the cluster, elected through etcd (see
   * the README, "Across machines"). Needs the optional peer dependency `etcd3`.
   * @default 'user'
   */
  readonly scope?: 'user' | 'cluster';
  /**
   * `scope: 'cluster'` only: the etcd cluster, `etcd://host:port,host:port,...`.
   * @default env LOOPBACK_SINGLETON_REGISTRY
   */
  readonly registry?: string;
  /**
   * `scope: 'cluster'` only: the cluster secret (at least 16 bytes), the same on every
   * machine. The handshake's key is derived from it (it never crosses the socket) instead of
   * the per-user token file, which each machine has its own of.
   * @default env LOOPBACK_SINGLETON_SECRET
   */
  readonly secret?: string | Uint8Array;
  /**
   * `scope: 'cluster'` only: the address a daemon started by this process listens on and
   * publishes for the other machines (for a wildcard, `0.0.0.0` or `::`, it publishes this
   * machine's first non-internal address). Off loopback (127.0.0.0/8, `::1`, `localhost`),
   * `tls` and `secret` are both required.
   * @default '127.0.0.1'
   */
  readonly host?: string;
  /**
   * `scope: 'cluster'` only: mutual TLS under the handshake, required off loopback: this
   * machine's certificate and key and the CA every machine's certificate comes from, as PEM
   * (`readFileSync('cert.pem')`). A daemon's certificate must name the address it publishes
   * (subjectAltName `IP:...`); a client's must come from the same CA.
   */
  readonly tls?: ClusterTls;
  /**
   * `scope: 'cluster'` only: the TTL of a daemon's etcd lease, seconds. How long its place
   * outlives a daemon that died or was cut off, and so how long clients wait to start another.
   * @default 5
   */
  readonly leaseTtlSeconds?: number;
  /**
   * The daemon drains and exits after this long with zero connections (also counted from
   * boot, so a daemon nobody reaches does not live forever).
   * @default 2000
   */
  readonly idleTtlMs?: number;
  /**
   * `'tcp'`: 127.0.0.1 on an ephemeral port. `'ipc'`: a Unix domain socket in the runtime
   * dir (a named pipe on Windows).
   * @default 'tcp'
   */
  readonly transport?: Transport;
  /**
   * Budget of one connect + handshake attempt.
   * @default 500
   */
  readonly connectTimeoutMs?: number;
  /**
   * Whole discovery/spawn/handshake budget of one `ensureStarted()`.
   * @default 5000
   */
  readonly startTimeoutMs?: number;
  /**
   * The most a daemon's drain may take, counted from the moment it starts draining (a
   * shutdown, its idle TTL, a replacement): past it the daemon exits even with a method still
   * running, and says in daemon.log which calls it abandoned. Until it exits, its record stays
   * (marked draining) and new clients wait for it rather than start another daemon. It is the
   * daemon's setting: the spawner's value is the one that counts.
   * @default 5000
   */
  readonly drainTimeoutMs?: number;
  /**
   * Default deadline of one call; the caller is rejected, the call itself still runs in turn.
   * @default undefined (no deadline)
   */
  readonly callTimeoutMs?: number;
  /**
   * Largest frame either side sends or accepts.
   * @default 16 MiB
   */
  readonly maxFrameBytes?: number;
  /**
   * Mailbox capacity: calls beyond it are rejected with `MailboxFullError`, not buffered.
   * @default 10000
   */
  readonly maxQueuedCalls?: number;
  /**
   * Root of all runtime directories.
   * @default env LOOPBACK_SINGLETON_RUNTIME_DIR, then the platform's runtime dir
   */
  readonly runtimeDir?: string;
  /**
   * How a proxy supervises its daemon (the OTP intensity/period idea). When the daemon is
   * lost, calls in flight reject with `ERR_DAEMON_LOST` (never replayed), and the next call
   * restarts it transparently; more than `maxRestarts` restarts within `periodMs` make the
   * proxy fail fast with `RestartLimitError` until the period has passed. `false`: a proxy
   * whose daemon is lost stays failed.
   * @default { maxRestarts: 3, periodMs: 10_000 }
   */
  readonly restart?: RestartPolicy | false;
  /**
   * What to do when the running daemon was started with another factory, other args,
   * other code or another package version: `'error'` raises `FactoryMismatchError`;
   * `'replace'` drains the old daemon (its accepted calls are answered) and starts a new one.
   * @default 'error'
   */
  readonly onMismatch?: 'error' | 'replace';
  /**
   * More of the caller's setup that becomes part of the factory identity, so that a client
   * with another setup gets the `onMismatch` behaviour instead of a daemon started by someone
   * else: `env` names environment variables (their values are hashed, never stored or sent),
   * `value` is any plain data (a version label, a config digest).
   * @example { env: ['NODE_ENV', 'DATABASE_URL'], value: 'v3' }
   * @default undefined (the daemon inherits the env of whoever started it, unchecked)
   */
  readonly identity?: IdentityOptions;
  /**
   * The daemon's own Node flags, used instead of the flags it would inherit from the client
   * that starts it (see `inheritedExecArgv`). Part of the factory identity. `[]` starts it
   * with no flags at all.
   * @example ['--conditions=production', '--max-old-space-size=512']
   * @default undefined (the spawner's loader, condition and memory flags)
   */
  readonly execArgv?: readonly string[];
}

/** What besides the factory makes a daemon's identity (see {@link LocalSingletonOptions.identity}). */
export interface IdentityOptions {
  /** Environment variables whose values must match; an unset variable counts as a value. */
  readonly env?: readonly string[];
  /** Plain data (MessagePack-serialisable) that must match. */
  readonly value?: unknown;
}

/** The identity option, validated. */
export interface ResolvedIdentity {
  /** Sorted, without duplicates; empty when none are named. */
  readonly env: readonly string[];
  /** The value in canonical text form, or undefined when none was given. */
  readonly value: string | undefined;
}

/** A supervised proxy's restart intensity. */
export interface RestartPolicy {
  readonly maxRestarts: number;
  readonly periodMs: number;
}

/** Options with every default applied. */
export interface ResolvedOptions {
  readonly args: readonly unknown[];
  readonly scope: 'user' | 'cluster';
  /** The cluster options, for `scope: 'cluster'` only. */
  readonly cluster: ResolvedCluster | undefined;
  readonly idleTtlMs: number;
  readonly transport: Transport;
  readonly connectTimeoutMs: number;
  readonly startTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly callTimeoutMs: number | undefined;
  readonly maxFrameBytes: number;
  readonly maxQueuedCalls: number;
  readonly runtimeDir: string | undefined;
  readonly restart: RestartPolicy | false;
  readonly onMismatch: 'error' | 'replace';
  readonly identity: ResolvedIdentity;
  readonly execArgv: readonly string[] | undefined;
}

/** `show` is used by the factory reference's messages too (./client/factory-ref.ts). */
export { show };

/** The defaults the README's option table gives. */
export const DEFAULT_OPTIONS = {
  scope: 'user',
  idleTtlMs: 2000,
  transport: 'tcp',
  connectTimeoutMs: 500,
  startTimeoutMs: 5000,
  drainTimeoutMs: 5000,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxQueuedCalls: 10_000,
  restart: { maxRestarts: 3, periodMs: 10_000 },
  onMismatch: 'error',
} as const;

const KNOWN = new Set([
  'args',
  'scope',
  'idleTtlMs',
  'transport',
  'connectTimeoutMs',
  'startTimeoutMs',
  'drainTimeoutMs',
  'callTimeoutMs',
  'maxFrameBytes',
  'maxQueuedCalls',
  'runtimeDir',
  'restart',
  'onMismatch',
  'identity',
  'execArgv',
  'registry',
  'secret',
  'host',
  'tls',
  'leaseTtlSeconds',
]);

/**
 * Validates `options` and applies the defaults.
 * @throws {TypeError} naming the option, what it expects, and what it got.
 */
export function resolveOptions(options: LocalSingletonOptions | undefined): ResolvedOptions {
  if (options === undefined) options = {};
  if (!isRecord(options)) {
    throw new TypeError(`Expected \`options\` to be an object, got ${show(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) {
      throw new TypeError(`Unknown option \`${key}\`; the options are: ${[...KNOWN].join(', ')}`);
    }
  }
  const args = options.args === undefined ? [] : options.args;
  if (!Array.isArray(args)) throw new TypeError(`Expected \`args\` to be an array of factory arguments, got ${show(args)}`);
  const scope = options.scope === undefined ? DEFAULT_OPTIONS.scope : options.scope;
  if (scope !== 'user' && scope !== 'cluster') {
    throw new TypeError(`Expected \`scope\` to be 'user' (this machine) or 'cluster' (across machines, on etcd), got ${show(scope)}`);
  }
  const transport = options.transport === undefined ? DEFAULT_OPTIONS.transport : options.transport;
  if (transport !== 'tcp' && transport !== 'ipc') {
    throw new TypeError(`Expected \`transport\` to be 'tcp' or 'ipc', got ${show(transport)}`);
  }
  const cluster = resolveCluster(options, scope, transport);
  const runtimeDir = options.runtimeDir;
  if (runtimeDir !== undefined && (typeof runtimeDir !== 'string' || runtimeDir.length === 0)) {
    throw new TypeError(`Expected \`runtimeDir\` to be a non-empty path string, got ${show(runtimeDir)}`);
  }
  const onMismatch = options.onMismatch === undefined ? DEFAULT_OPTIONS.onMismatch : options.onMismatch;
  if (onMismatch !== 'error' && onMismatch !== 'replace') {
    throw new TypeError(`Expected \`onMismatch\` to be 'error' or 'replace', got ${show(onMismatch)}`);
  }
  const callTimeoutMs = options.callTimeoutMs === undefined ? undefined : durationOption(options, 'callTimeoutMs', 0, 1);
  return {
    args,
    scope,
    cluster,
    idleTtlMs: durationOption(options, 'idleTtlMs', DEFAULT_OPTIONS.idleTtlMs, 0),
    transport,
    connectTimeoutMs: durationOption(options, 'connectTimeoutMs', DEFAULT_OPTIONS.connectTimeoutMs, 1),
    startTimeoutMs: durationOption(options, 'startTimeoutMs', DEFAULT_OPTIONS.startTimeoutMs, 1),
    drainTimeoutMs: durationOption(options, 'drainTimeoutMs', DEFAULT_OPTIONS.drainTimeoutMs, 0),
    callTimeoutMs,
    maxFrameBytes: numberOption(options, 'maxFrameBytes', DEFAULT_OPTIONS.maxFrameBytes, 1024, true, 0xffffffff),
    maxQueuedCalls: numberOption(options, 'maxQueuedCalls', DEFAULT_OPTIONS.maxQueuedCalls, 1, true),
    runtimeDir,
    restart: resolveRestart(options.restart, DEFAULT_OPTIONS.restart),
    onMismatch,
    identity: resolveIdentity(options.identity),
    execArgv: resolveExecArgv(options.execArgv),
  };
}
