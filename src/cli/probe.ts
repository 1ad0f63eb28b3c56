/**
 * Finding out what runs in a runtime directory: its metadata, whether the pid lives, and
 * whether the daemon answers over its protocol. The CLI never trusts files alone: a daemon
 * counts as alive only once it has completed the mutual handshake.
 */
import { type Dirent, readdirSync } from 'node:fs';
import { Connection } from '../client/connection.js';
import { localFaultError } from '../runtime/local-fault.js';
import { isSpawnLockHeld } from '../runtime/lock.js';
import { formatAddress, readMetadata } from '../runtime/metadata.js';
import { invalidNameReason, runtimePaths } from '../runtime/paths.js';
import { isProcessAlive } from '../runtime/process.js';
import { readToken } from '../runtime/token.js';
import type { DaemonInfo, DaemonMetadata, RuntimePaths } from '../types.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../wire/codec.js';
import { CliFailure } from './args.js';

/** Budget of one connect + handshake from the CLI. */
export const CONNECT_TIMEOUT_MS = 1500;

/** What a runtime directory holds, daemon-wise. */
export type DaemonStatus = 'alive' | 'draining' | 'unresponsive' | 'stale' | 'absent';

/** Why no connection could be made: the status, a sentence, and what the metadata said. */
export class DaemonUnavailable extends Error {
  override readonly name = 'DaemonUnavailable';
  constructor(
    readonly status: Exclude<DaemonStatus, 'alive'>,
    message: string,
    readonly metadata?: DaemonMetadata,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** An authenticated connection and the metadata it was opened from. */
export interface OpenDaemon {
  readonly metadata: DaemonMetadata;
  readonly connection: Connection;
}

/**
 * Connects to the daemon recorded in `paths` and completes the handshake.
 * @throws {DaemonUnavailable} saying why not: no metadata, unusable metadata, a dead pid,
 *   nothing listening (stale), or a live pid that did not answer (unresponsive).
 */
export async function openDaemon(paths: RuntimePaths, timeoutMs = CONNECT_TIMEOUT_MS): Promise<OpenDaemon> {
  const read = readMetadata(paths.metadata);
  if (read.status === 'absent') throw new DaemonUnavailable('absent', 'no daemon is running (no metadata.json)');
  if (read.status === 'malformed') throw new DaemonUnavailable('stale', `metadata.json is unusable: ${read.reason}`);
  // Not evidence of anything: fail rather than call it stale (clean would remove it).
  if (read.status === 'unreadable') throw localFaultError(`read ${paths.metadata}`, read.error);
  const { metadata } = read;
  const { pid } = metadata;
  if (!isProcessAlive(pid)) throw new DaemonUnavailable('stale', `its daemon (pid ${pid}) is gone; metadata.json is stale`, metadata);
  // It keeps its record until it exits, and takes no connection meanwhile.
  if (metadata.draining === true) {
    throw new DaemonUnavailable('draining', `pid ${pid} is draining: it accepts nothing new and exits within its drain deadline`, metadata);
  }
  let token: Buffer | undefined;
  try {
    token = readToken(paths.token);
  } catch (error) {
    throw new DaemonUnavailable('unresponsive', `pid ${pid} runs, but ${(error as Error).message}`, metadata, { cause: error });
  }
  if (!token) throw new DaemonUnavailable('unresponsive', `pid ${pid} runs, but there is no token file to authenticate with`, metadata);
  try {
    // As an observer: the daemon does not count this connection, so looking changes nothing.
    const connection = await Connection.open(metadata, { token, maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, timeoutMs, observe: true });
    return { metadata, connection };
  } catch (error) {
    const cause = (error as Error).cause as NodeJS.ErrnoException | undefined;
    if (cause?.code === 'ECONNREFUSED' || cause?.code === 'ENOENT') {
      throw new DaemonUnavailable('stale', `nothing listens at ${formatAddress(metadata)}: pid ${pid} is not its daemon any more`, metadata, { cause: error });
    }
    throw new DaemonUnavailable('unresponsive', `pid ${pid} did not answer: ${(error as Error).message}`, metadata, { cause: error });
  }
}

/**
 * Opens a connection to the daemon of `name`.
 * @throws {CliFailure} with one line saying why not, when no daemon answers.
 */
export async function openOrFail(root: string, name: string): Promise<OpenDaemon> {
  try {
    return await openDaemon(runtimePaths(root, name));
  } catch (error) {
    if (error instanceof DaemonUnavailable) throw new CliFailure(`singleton "${name}" under ${root}: ${error.message}`);
    throw error;
  }
}

/** One runtime directory, probed. */
export interface Probe {
  readonly name: string;
  readonly paths: RuntimePaths;
  readonly status: DaemonStatus;
  /** What metadata.json says, when it is valid. */
  readonly metadata: DaemonMetadata | undefined;
  /** The daemon's live info, when it answered. */
  readonly info: DaemonInfo | undefined;
  /** Why it is not alive. */
  readonly detail: string | undefined;
  /** A start holds the spawn lock (it is fresh). */
  readonly startInProgress: boolean;
}

/** Pings the daemon of `name` under `root` once and reports what was found. Never throws for a missing daemon. */
export async function probe(root: string, name: string): Promise<Probe> {
  const paths = runtimePaths(root, name);
  const startInProgress = isLockFresh(paths);
  let open: OpenDaemon;
  try {
    open = await openDaemon(paths);
  } catch (error) {
    if (!(error instanceof DaemonUnavailable)) throw error;
    return { name, paths, status: error.status, metadata: error.metadata, info: undefined, detail: error.message, startInProgress };
  }
  const { metadata, connection } = open;
  try {
    const info = await connection.ping();
    return { name, paths, status: 'alive', metadata, info, detail: undefined, startInProgress };
  } catch (error) {
    const detail = `pid ${metadata.pid} stopped answering: ${(error as Error).message}`;
    return { name, paths, status: 'unresponsive', metadata, info: undefined, detail, startInProgress };
  } finally {
    connection.close();
  }
}

/** True while a start holds the spawn lock (see ../runtime/lock.ts). */
export function isLockFresh(paths: RuntimePaths): boolean {
  return isSpawnLockHeld(paths);
}

/** The names of the singleton directories under `root` (sorted; none when it does not exist). */
export function singletonNames(root: string): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(root, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  return entries
    .filter((entry) => entry.isDirectory() && invalidNameReason(entry.name) === undefined)
    .map((entry) => entry.name)
    .sort();
}
