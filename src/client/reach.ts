/**
 * Reaching a recorded daemon: reading its record (giving a damaged one a moment to be
 * mended), and connecting to it, with the checks that make a connection usable (its process
 * runs, it is not draining, it runs this client's factory). Used by every step of the client
 * statechart that talks to a daemon (./starter.ts) and by `service.shutdown()`.
 */
import { FactoryMismatchError, LoopbackSingletonError } from '../errors.js';
import { localFaultError } from '../runtime/local-fault.js';
import { readMetadata, type MetadataRead } from '../runtime/metadata.js';
import type { FileRegistry } from '../registry/file.js';
import { sleep } from '../runtime/sleep.js';
import { loadOrCreateToken } from '../runtime/token.js';
import type { DaemonMetadata } from '../types.js';
import { PACKAGE_VERSION } from '../version.js';
import type { TlsMaterial } from '../net/tls-material.js';
import { Connection } from './connection.js';
import { describeChangedModules, describeMismatch } from './factory-ref.js';
import type { StartPlan } from './plan.js';
import { drainingError, goneDaemonError, unansweredOrStale } from './unresponsive.js';

/**
 * Connects to the daemon `metadata` names, after a cheap liveness check on its process, and
 * makes sure it runs our factory.
 * @throws {FactoryMismatchError} when it runs another factory or other arguments.
 * @throws {ConnectionFailedError} `ERR_DAEMON_UNRESPONSIVE` when the recorded process still
 *   runs but the handshake failed: a live daemon is never taken for a stale one.
 */
export async function connectTo(plan: StartPlan, metadata: DaemonMetadata, signal?: AbortSignal, checkFactory = true): Promise<Connection> {
  const gone = goneDaemonError(plan, metadata);
  if (gone) throw gone;
  const draining = drainingError(plan, metadata);
  if (draining) throw draining;
  const token = loadToken(plan.paths.token);
  return openChecked(plan, metadata, token, signal, checkFactory, (error) => unansweredOrStale(plan, metadata, error, signal));
}

/**
 * Connects to the daemon at `metadata`'s address with `token`, and makes sure it runs our
 * factory (unless `checkFactory` is false). A failed connect or handshake is judged by
 * `judge` (is the daemon stale, or alive and not answering?), which returns the error to throw.
 * With `tls` (a cluster daemon off loopback), over mutual TLS.
 * Shared by the local scope (above) and `scope: 'cluster'` (./cluster-reach.ts).
 */
export async function openChecked(
  plan: StartPlan,
  metadata: DaemonMetadata,
  token: Uint8Array,
  signal: AbortSignal | undefined,
  checkFactory: boolean,
  judge: (error: unknown) => Promise<unknown>,
  tls?: TlsMaterial,
): Promise<Connection> {
  let connection: Connection;
  try {
    connection = await Connection.open(metadata, {
      token,
      maxFrameBytes: plan.options.maxFrameBytes,
      timeoutMs: plan.options.connectTimeoutMs,
      signal,
      name: plan.name,
      tls,
    });
  } catch (error) {
    throw await judge(error);
  }
  // Same identity, but a local module the factory loaded may have been edited since.
  let differences: string[];
  try {
    differences = !checkFactory
      ? []
      : connection.welcome.factoryId !== plan.factoryId
        ? describeMismatch(connection.welcome.factory, connection.welcome.packageVersion, plan.factory, PACKAGE_VERSION)
        : describeChangedModules(connection.welcome.modules);
  } catch (error) {
    // A module file this client could not read (EMFILE...): no verdict, and no leaked socket.
    connection.close();
    throw error;
  }
  if (differences.length > 0) {
    connection.close();
    const { welcome } = connection;
    throw new FactoryMismatchError(
      `The running daemon "${plan.name}" (pid ${welcome.pid}) does not run what this client asks for: ${differences.join('; ')}. ` +
        "Pass { onMismatch: 'replace' } to have it drain (its accepted calls are answered) and replaced, " +
        'or stop it first with service.shutdown()',
    );
  }
  return connection;
}

/** The token, or an error the client statechart takes as final: a token that cannot be read or made is no sign of a stale daemon. */
function loadToken(path: string): Buffer {
  try {
    return loadOrCreateToken(path);
  } catch (error) {
    throw error instanceof LoopbackSingletonError ? error : localFaultError(`read or create the token file ${path}`, error);
  }
}

/** `read`, unless it is unreadable: that ends the attempt (see ../runtime/local-fault.ts). */
export function readable(path: string, read: MetadataRead): UsableRead {
  if (read.status === 'unreadable') throw localFaultError(`read ${path}`, read.error);
  return read;
}

/** How long a client under the lock gives a live daemon to mend a damaged metadata.json. */
const MEND_GRACE_MS = 350;

/** A read that names a daemon, none, or a damaged record: an unreadable one has ended the attempt. */
export type UsableRead = Exclude<MetadataRead, { status: 'unreadable' }>;

/**
 * The record the attempt's registry has now, as the client statechart reads metadata.
 * @throws {LoopbackSingletonError} when it cannot be read: that ends the attempt (see ../runtime/local-fault.ts).
 */
export async function discovered(files: FileRegistry, signal?: AbortSignal): Promise<UsableRead> {
  const read = await files.discover(signal);
  switch (read.status) {
    case 'valid':
      return { status: 'valid', metadata: read.record };
    case 'unreadable':
      throw localFaultError(`read ${files.where}`, read.error);
    default:
      return read;
  }
}

/**
 * The metadata, giving a damaged record a moment to be mended: a serving daemon rewrites its
 * own record within ~100 ms, and a damaged file must not be taken for a dead daemon (that
 * would start a second one). An absent record is not waited for: that is a cold start.
 * @throws {LoopbackSingletonError} when the record cannot be read (EMFILE, EACCES...).
 */
export function settledMetadata(path: string, signal?: AbortSignal): Promise<UsableRead> {
  return settled(async () => readable(path, readMetadata(path)), signal);
}

/** {@link settledMetadata}, read through the attempt's registry (the client statechart's `recheck`). */
export function settledRecord(files: FileRegistry, signal?: AbortSignal): Promise<UsableRead> {
  return settled(() => discovered(files, signal), signal);
}

async function settled(read: () => Promise<UsableRead>, signal: AbortSignal | undefined): Promise<UsableRead> {
  const deadline = performance.now() + MEND_GRACE_MS;
  let last = await read();
  while (last.status === 'malformed' && performance.now() < deadline) {
    signal?.throwIfAborted();
    await sleep(25);
    last = await read();
  }
  return last;
}
