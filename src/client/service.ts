/**
 * `localSingleton()` and `LocalSingletonService`: the public entry points. Construction
 * validates everything synchronously and does no I/O; the first method call resolves the
 * factory module and starts or finds the daemon.
 */
import { ensurePrivateDir } from '../runtime/dir.js';
import { removeMetadataIf } from '../runtime/metadata.js';
import { isSameProcess } from '../runtime/process.js';
import { invalidNameReason, resolveRuntimeRoot, runtimePaths, socketPathProblem } from '../runtime/paths.js';
import { resolveOptions, type LocalSingletonOptions, type ResolvedOptions } from '../options.js';
import type { DaemonInfo, RuntimePaths } from '../types.js';
import { encodeValue } from '../wire/codec.js';
import {
  canonicalArgs,
  computeFactoryId,
  hashArgs,
  hashModuleCode,
  parseFactory,
  resolvePackage,
  setupIdentity,
  type FactoryReference,
  type ParsedFactory,
} from './factory-ref.js';
import { PACKAGE_VERSION } from '../version.js';
import { createRemote, type Remote } from './proxy.js';
import { ConnectionFailedError, LoopbackSingletonError } from '../errors.js';
import { loadOwnModule } from '../runtime/local-fault.js';
import type { Connection } from './connection.js';
import type { StartPlan } from './plan.js';
import { Standby } from './standby.js';

/** Options of {@link LocalSingletonService.shutdown}. */
export interface ShutdownOptions {
  /**
   * Kill rather than wait: the daemon is asked to stop with force (queued calls are rejected
   * with `ERR_SHUTDOWN_FORCED`) and SIGKILLed after a short grace if it is still running,
   * whatever it is doing; its record and socket are then removed.
   */
  readonly force?: boolean;
  /**
   * Stop waiting for the daemon to exit; the daemon goes on draining (within its drain deadline).
   */
  readonly signal?: AbortSignal;
}

/**
 * What a graceful shutdown waits beyond `drainTimeoutMs` before it reports the daemon still
 * alive: the process's own exit, a loaded machine, a daemon started with a longer deadline.
 */
const SHUTDOWN_SLACK_MS = 5000;

/** The daemon-facing parts (./session.ts), imported on first use by any service. */
let session: Promise<typeof import('./session.js')> | undefined;
function loadSession(): Promise<typeof import('./session.js')> {
  if (session === undefined) {
    // Out of file descriptors or memory: a local fault to fix, as any file the library reads.
    const loading = loadOwnModule("this library's modules", () => import('./session.js'));
    session = loading;
    // A load that failed is tried again by the next call.
    loading.catch(() => {
      if (session === loading) session = undefined;
    });
  }
  return session;
}

/** The cluster's starter and shutdown (./cluster-session.ts), imported on first use by a service of `scope: 'cluster'` only. */
let clusterSession: Promise<typeof import('./cluster-session.js')> | undefined;
function loadClusterSession(): Promise<typeof import('./cluster-session.js')> {
  if (clusterSession === undefined) {
    const loading = loadOwnModule("this library's cluster modules", () => import('./cluster-session.js'));
    clusterSession = loading;
    loading.catch(() => {
      if (clusterSession === loading) clusterSession = undefined;
    });
  }
  return clusterSession;
}

/** One named singleton: its runtime files, and the daemon that hosts its object. */
export class LocalSingletonService<T> {
  /** The singleton's name (its runtime directory's name). */
  readonly name: string;
  /** Absolute paths of its runtime files. */
  readonly paths: RuntimePaths;
  readonly #options: ResolvedOptions;
  readonly #factory: ParsedFactory;
  readonly #canonicalArgs: string;
  /** Encoded at construction, with the identity: later changes to the caller's array do not leak in. */
  readonly #encodedArgs: Uint8Array;
  readonly #cwd: string;
  #plan: Promise<StartPlan> | undefined;

  /** Use {@link localSingleton}. */
  constructor(name: string, factory: FactoryReference, options?: LocalSingletonOptions) {
    const reason = invalidNameReason(name);
    if (reason !== undefined) {
      throw new TypeError(`Invalid singleton name: ${reason}. It names a directory: use letters, digits, '.', '_' and '-'`);
    }
    this.#options = resolveOptions(options);
    this.#cwd = process.cwd();
    this.#factory = parseFactory(factory, this.#cwd);
    this.#canonicalArgs = canonicalArgs(this.#options.args);
    this.#encodedArgs = Uint8Array.from(encodeValue(this.#options.args));
    this.name = name;
    this.paths = runtimePaths(resolveRuntimeRoot(this.#options.runtimeDir), name);
  }

  /**
   * Connects (starting the daemon if needed) and returns a typed proxy. Dispose it with
   * `await using` or `closeRemote()`.
   * @example
   * await using counter = await svc.proxy();
   * await counter.inc();
   */
  async proxy(): Promise<Remote<T>> {
    const connection = await this.#connect(false);
    const { SupervisedConnection } = await loadSession();
    const supervised = new SupervisedConnection(this.name, connection, this.#options.restart, () => this.#connect(true));
    return createRemote<T>(supervised, this.name, this.#options.callTimeoutMs === undefined ? undefined : { timeoutMs: this.#options.callTimeoutMs });
  }

  /** Starts the daemon, or verifies the running one, and completes a handshake. */
  async ensureStarted(): Promise<void> {
    const connection = await this.#connect(false);
    connection.close();
  }

  /** The daemon's live info (starting it if needed). */
  async ping(): Promise<DaemonInfo> {
    const connection = await this.#connect(false);
    try {
      return await connection.ping();
    } finally {
      connection.close();
    }
  }

  /**
   * Stops the daemon. Graceful by default: it stops accepting, answers every call it already
   * accepted, exits, and removes its record as it exits; resolves once the process is gone.
   * Its drain has a deadline (`drainTimeoutMs`, from its start): a method that never settles
   * is abandoned then. With `force`, the daemon is killed whatever it is doing (see
   * {@link ShutdownOptions.force}). No daemon running: resolves at once.
   * @throws {ConnectionFailedError} `ERR_DAEMON_UNRESPONSIVE` when a graceful shutdown finds the
   *   process still alive `drainTimeoutMs` + 5 s after it was asked (it was left running).
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    if (typeof options !== 'object' || options === null) throw new TypeError('Expected shutdown options to be an object like { force: true }');
    const { signal } = options;
    const force = options.force === true;
    signal?.throwIfAborted();
    const plan = await this.#getPlan();
    if (this.#options.scope === 'cluster') {
      // Wherever it runs, asked over the protocol; resolves once its record is gone.
      const { shutdownCluster } = await loadClusterSession();
      return shutdownCluster(plan, force, signal);
    }
    const { connectTo, drainDaemon, isSignallable, killDaemon, settledMetadata } = await loadSession();
    // A damaged record may belong to a live daemon that is about to mend it.
    const read = await settledMetadata(this.paths.metadata, signal);
    if (read.status !== 'valid') return;
    const { metadata } = read;
    const { pid, instanceId } = metadata;
    let connection: Connection | undefined;
    // Already draining: it refuses connections; only its exit is to be waited for (or forced).
    if (metadata.draining !== true) {
      try {
        // Whatever factory it runs: the name is what shutdown() stops.
        connection = await connectTo(plan, metadata, signal, false);
      } catch {
        // Judged by its process below: a live one that does not answer over the protocol (busy
        // on the CPU, of another protocol version) is asked by signal.
      }
    }
    if (!isSameProcess(pid, metadata.startTime)) {
      // Nothing of ours runs: whatever the record says is stale.
      connection?.close();
      removeMetadataIf(this.paths.metadata, instanceId);
      return;
    }
    if (connection === undefined && !isSignallable(metadata)) {
      // A live process that neither answers nor is proven to be the daemon (its record has no
      // start time): never signalled, left as it is, as a client leaves it (docs/DESIGN.md, "Faults and recovery").
      return;
    }
    if (force) {
      await killDaemon(this.paths, metadata, connection, signal);
      return;
    }
    const budget = this.#options.drainTimeoutMs + SHUTDOWN_SLACK_MS;
    if (!(await drainDaemon(metadata, connection, budget, signal))) {
      throw new ConnectionFailedError(
        `The daemon "${this.name}" (pid ${pid}) still runs ${budget} ms after it was asked to drain ` +
          `(drainTimeoutMs ${this.#options.drainTimeoutMs} ms + ${SHUTDOWN_SLACK_MS} ms). ` +
          `It was left running. Stop it with service.shutdown({ force: true }) or \`loopback-singleton stop ${this.name} --force\`. See ${this.paths.log}`,
        { code: 'ERR_DAEMON_UNRESPONSIVE' },
      );
    }
  }

  /**
   * Finds or starts the daemon, all of it (resolving the factory module included) within one
   * `startTimeoutMs` from now. `restart`: the caller lost its daemon.
   */
  async #connect(restart: boolean): Promise<Connection> {
    const deadline = performance.now() + this.#options.startTimeoutMs;
    if (this.#options.scope === 'cluster') {
      // No standby: most cluster starts find a daemon on another machine.
      const plan = await this.#getPlan();
      const { connectOrStartCluster } = await loadClusterSession();
      return connectOrStartCluster(plan, { deadline, restart });
    }
    this.#checkSocketPath();
    // No record: a daemon process is spawned first, to load while this process resolves the
    // factory and loads the rest of its own code (a restart has it loaded). See ./standby.ts.
    const standby = restart ? undefined : Standby.forColdStart(this.name, this.paths, this.#options.execArgv, this.#options.startTimeoutMs);
    try {
      const plan = await this.#getPlan();
      const { connectOrStart } = await loadSession();
      return await connectOrStart(plan, { deadline, restart, standby });
    } finally {
      standby?.dismiss();
    }
  }

  /** Before anything is spawned: a daemon could not bind there (a clear error, not 5 spawns). */
  #checkSocketPath(): void {
    const socketProblem = this.#options.transport === 'ipc' ? socketPathProblem(this.paths.dir) : undefined;
    if (socketProblem !== undefined) throw new LoopbackSingletonError(socketProblem);
  }

  /** Resolves the module (a bare package specifier is resolved from the caller's cwd) once. */
  #getPlan(): Promise<StartPlan> {
    this.#plan ??= (async () => {
      this.#checkSocketPath();
      const module = this.#factory.needsResolution ? await resolvePackage(this.#factory.module, this.#cwd) : this.#factory.module;
      ensurePrivateDir(this.paths.dir);
      const factory = {
        module,
        export: this.#factory.export,
        argsHash: hashArgs(this.#canonicalArgs),
        codeHash: hashModuleCode(module),
        // The `identity` and `execArgv` options, with env values as they are now.
        ...setupIdentity(this.#options),
      };
      return {
        name: this.name,
        paths: this.paths,
        options: this.#options,
        factory,
        factoryId: computeFactoryId(factory, PACKAGE_VERSION),
        encodedArgs: this.#encodedArgs,
      };
    })();
    const plan = this.#plan;
    // A failed resolution is retried on the next call rather than cached.
    plan.catch(() => {
      if (this.#plan === plan) this.#plan = undefined;
    });
    return plan;
  }
}

/**
 * Declares a process-external singleton: one object, hosted in a daemon on 127.0.0.1,
 * shared by every local process that uses the same `name` (and runtime root).
 * Synchronous: validates its input (a `TypeError` says what to pass instead) and does no I/O.
 * @example
 * const svc = localSingleton<Counter>('my-counter', './services.js:Counter', { args: [10] });
 * await using counter = await svc.proxy();
 * await counter.inc();
 */
export function localSingleton<T>(name: string, factory: FactoryReference, options?: LocalSingletonOptions): LocalSingletonService<T> {
  return new LocalSingletonService<T>(name, factory, options);
}
