/**
 * `localSingleton()` and `LocalSingletonService`: the public entry points. Construction
 * validates everything synchronously and does no I/O; the first method call resolves the
 * factory module and starts or finds the daemon.
 */
import { ensurePrivateDir } from '../runtime/dir.js';
import { removeMetadataIf } from '../runtime/metadata.js';
import { isProcessAlive } from '../runtime/process.js';
import { invalidNameReason, resolveRuntimeRoot, runtimePaths } from '../runtime/paths.js';
import { resolveOptions, type LocalSingletonOptions, type ResolvedOptions } from '../options.js';
import type { DaemonInfo, RuntimePaths } from '../types.js';
import { encodeValue } from '../wire/codec.js';
import { canonicalArgs, computeFactoryId, hashArgs, hashModuleCode, parseFactory, resolvePackage, setupIdentity, type FactoryReference, type ParsedFactory } from './factory-ref.js';
import { PACKAGE_VERSION } from '../version.js';
import { createRemote, type Remote } from './proxy.js';
import { SupervisedConnection } from './supervised.js';
import { HandshakeError } from '../errors.js';
import type { Connection } from './connection.js';
import { connectOrStart, connectTo, settledMetadata, type StartPlan } from './starter.js';

/** Options of {@link LocalSingletonService.shutdown}. */
export interface ShutdownOptions {
  /** Do not wait for queued calls: they are rejected with `ERR_SHUTDOWN_FORCED`. */
  readonly force?: boolean;
  /**
   * Stop waiting for the daemon to exit (a graceful drain waits for every accepted call);
   * the daemon goes on draining.
   */
  readonly signal?: AbortSignal;
}

const EXIT_POLL_MS = 10;


async function waitForExit(pid: number, signal: AbortSignal | undefined): Promise<void> {
  while (isProcessAlive(pid)) {
    signal?.throwIfAborted();
    await new Promise((resolve) => setTimeout(resolve, EXIT_POLL_MS));
  }
}

/** SIGTERM drains a daemon gracefully; a second one, after a pause, escalates to force. */
async function stopBySignal(pid: number, force: boolean, signal: AbortSignal | undefined): Promise<void> {
  const terminate = () => {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // exited meanwhile
    }
  };
  terminate();
  if (force) {
    // Two signals sent back to back may merge into one: leave the first time to arrive.
    await new Promise((resolve) => setTimeout(resolve, 50));
    if (isProcessAlive(pid)) terminate();
  }
  await waitForExit(pid, signal);
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
    const plan = await this.#getPlan();
    const connection = await connectOrStart(plan);
    const supervised = new SupervisedConnection(this.name, connection, this.#options.restart, async () => connectOrStart(await this.#getPlan()));
    return createRemote<T>(supervised, this.name, this.#options.callTimeoutMs === undefined ? undefined : { timeoutMs: this.#options.callTimeoutMs });
  }

  /** Starts the daemon, or verifies the running one, and completes a handshake. */
  async ensureStarted(): Promise<void> {
    const connection = await connectOrStart(await this.#getPlan());
    connection.close();
  }

  /** The daemon's live info (starting it if needed). */
  async ping(): Promise<DaemonInfo> {
    const connection = await connectOrStart(await this.#getPlan());
    try {
      return await connection.ping();
    } finally {
      connection.close();
    }
  }

  /**
   * Stops the daemon: graceful by default (it stops accepting, answers every call it already
   * accepted, removes its metadata, exits). Resolves once the process is gone. With `force`,
   * queued calls are rejected instead of run. No daemon running: resolves at once.
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    if (typeof options !== 'object' || options === null) throw new TypeError('Expected shutdown options to be an object like { force: true }');
    const { signal } = options;
    signal?.throwIfAborted();
    const plan = await this.#getPlan();
    // A damaged record may belong to a live daemon that is about to mend it.
    const read = await settledMetadata(this.paths.metadata, signal);
    if (read.status !== 'valid') return;
    const { pid, instanceId } = read.metadata;
    let connection: Connection;
    try {
      // Whatever factory it runs: the name is what shutdown() stops.
      connection = await connectTo(plan, read.metadata, signal, false);
    } catch (error) {
      if (error instanceof HandshakeError && error.code === 'ERR_PROTOCOL_VERSION' && error.daemonPid === pid) {
        // A daemon of ours that speaks another protocol version: signals speak every version.
        await stopBySignal(pid, options.force === true, signal);
      }
      // Otherwise nothing of ours answers: whatever the metadata says is stale.
      if (!isProcessAlive(pid)) removeMetadataIf(this.paths.metadata, instanceId);
      return;
    }
    try {
      await connection.shutdown(options.force === true);
    } catch {
      // The daemon may close before its acknowledgement arrives; its exit is what counts.
    }
    try {
      // The daemon closes our connection once drained, then exits. These (ref'd) timers also
      // keep this process alive meanwhile: an idle connection alone does not.
      await waitForExit(pid, signal);
    } finally {
      connection.close();
    }
  }

  /** Resolves the module (a bare package specifier is resolved from the caller's cwd) once. */
  #getPlan(): Promise<StartPlan> {
    this.#plan ??= (async () => {
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
