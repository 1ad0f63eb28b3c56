/**
 * Shapes shared by the client, the daemon and the wire.
 */

/** The transport a daemon listens on. */
export type Transport = 'tcp' | 'ipc';

/** Absolute paths of one singleton's runtime files. */
export interface RuntimePaths {
  /** `<root>/<name>/`, mode 0700. */
  readonly dir: string;
  /** `metadata.json`: where the live daemon listens and who it is. */
  readonly metadata: string;
  /** `token`: the per-user secret, mode 0600. */
  readonly token: string;
  /** The directory proper-lockfile creates while a start is in progress. */
  readonly lock: string;
  /** `daemon.log`: the daemon's output and lifecycle transitions. */
  readonly log: string;
}

/** What `metadata.json` holds: enough to find, trust and identify the live daemon. */
export interface DaemonMetadata {
  readonly pid: number;
  /** Random per daemon process; a daemon deletes only metadata carrying its own. */
  readonly instanceId: string;
  readonly transport: Transport;
  /** For `tcp`: always 127.0.0.1. */
  readonly host?: string;
  /** For `tcp`: the ephemeral port. */
  readonly port?: number;
  /** For `ipc`: the Unix socket path or Windows pipe name. */
  readonly path?: string;
  readonly protocolVersion: number;
  readonly packageVersion: string;
  readonly factoryId: string;
  /** Epoch ms. */
  readonly startedAt: number;
  /**
   * The daemon process's start time as the OS tells it (`<boot id>:<ticks>` on Linux), so a
   * later process given the same pid is never taken for the daemon. Absent where the platform
   * does not tell it cheaply; the pid alone is checked then.
   */
  readonly startTime?: string;
  /**
   * Set once the daemon started draining: it accepts nothing new and exits within its drain
   * deadline, then removes this record. Clients wait for its process to exit; absent in
   * records of older versions and of serving daemons.
   */
  readonly draining?: true;
  /** Epoch ms at which the drain began (with `draining`). */
  readonly drainingSince?: number;
}

/** The parts of a factory's identity (`factoryId` is their hash, with the package version). */
export interface FactoryIdentity {
  /** The factory module's absolute URL. */
  readonly module: string;
  /** The export path (`default`, `Counter`, `ns.Counter`). */
  readonly export: string;
  /** A hash of the canonical factory arguments (key order does not matter). */
  readonly argsHash: string;
  /** A hash of the factory module file's content, when it is a readable file. */
  readonly codeHash: string | undefined;
  /**
   * The `identity.env` names, each with a short hash of its value in the starting client's
   * env (`unset` when absent). Values are never stored or sent.
   */
  readonly env?: Readonly<Record<string, string>>;
  /** A hash of the `identity.value` option. */
  readonly valueHash?: string;
  /** The `execArgv` option: the daemon's own Node flags; absent when it inherits the spawner's. */
  readonly execArgv?: readonly string[];
}

/** Why a daemon was started. */
export type StartReason = 'first' | 'restart' | 'replace';

/** A daemon's live state, as `ping()` returns it. */
export interface DaemonInfo {
  readonly pid: number;
  readonly instanceId: string;
  /** Open authenticated connections; an observer's (the CLI's) is never counted. */
  readonly active: number;
  /** Accepted calls waiting for their turn. */
  readonly queued: number;
  /** Calls executing now (0 or 1). */
  readonly running: number;
  /** The method executing now, if a call runs (daemons of 0.1.0 and later). */
  readonly runningMethod?: string;
  /**
   * How long the running call has run, in ms: only when its start was timed (an observer such
   * as `loopback-singleton inspect` was watching when it was admitted).
   */
  readonly runningForMs?: number;
  /**
   * The oldest waiting calls (at most 10), when some wait: each one's method and, when its
   * admission was timed (as for `runningForMs`), how long it has waited in ms.
   */
  readonly waitingCalls?: readonly { readonly method: string; readonly waitingMs?: number }[];
  /** The daemon process's resident set size, in bytes, when it answered a `ping` (not in a `welcome`). */
  readonly rssBytes?: number;
  /** The daemon statechart's current state value, as xstate gives it. */
  readonly state: string | Record<string, unknown>;
  readonly protocolVersion: number;
  readonly packageVersion: string;
  readonly factoryId: string;
  /** Epoch ms. */
  readonly startedAt: number;
  /** Calls answered since boot (results and remote errors). */
  readonly callsServed: number;
  /**
   * Calls answered without running since boot: withdrawn because their caller gave up
   * (abort, timeout), or because their deadline had passed when their turn came.
   */
  readonly callsWithdrawn: number;
  readonly transport: Transport;
  /** `127.0.0.1:<port>` for tcp, the socket path for ipc. */
  readonly address: string;
  readonly idleTtlMs: number;
  /** The largest frame this daemon accepts. */
  readonly maxFrameBytes: number;
  /** What the object was made from: the parts of `factoryId`. */
  readonly factory: FactoryIdentity;
  /** Why this daemon was started: the first start, after a lost one, or replacing a mismatched one. */
  readonly startReason: StartReason;
  /** The daemon's Node version (`process.version`): the starting client's `process.execPath`. */
  readonly nodeVersion: string;
  /** The daemon's Node flags (`process.execArgv`): the `execArgv` option, or those it inherited. */
  readonly execArgv: readonly string[];
  /**
   * The local files its factory loaded (absolute path -> content hash), outside node_modules:
   * a client that finds one of them changed treats the daemon as running other code.
   */
  readonly modules: Readonly<Record<string, string>>;
}
