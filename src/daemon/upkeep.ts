/**
 * A serving daemon keeps its own runtime files true, on every check (~100 ms, see sweep.ts):
 *
 * - `metadata.json` names this daemon. A vanished or damaged record (bad JSON, but also a
 *   FIFO, a symlink, a directory or a huge file put there) is rewritten atomically, so clients
 *   never take a live daemon for a dead one; a valid record of another live daemon means this
 *   one was superseded.
 * - `token` holds this daemon's secret in a private regular file. While the daemon lives it is
 *   the secret's authority: a deleted token (a tmp cleaner) is restored, and one replaced
 *   meanwhile (a client that found none and made its own, which could never prove itself to
 *   this daemon) is overwritten, so the next client gets in instead of replacing the daemon.
 * - the ipc socket file this daemon bound is still at its path; if not, the daemon re-binds.
 *
 * A read that fails (EMFILE, EACCES, EIO...), of a file or of /proc, decides nothing: nothing
 * is rewritten and the daemon does not take itself for superseded; the failure is logged
 * (once while it lasts) and the file is read again on the next check.
 *
 * Cheap, as it runs in every daemon: while nothing changed, one lstat per file. A file is read
 * only when its stamp (inode, size, times, mode, owner) differs from the one last verified.
 */
import { basename } from 'node:path';
import { backupPathOf, readMetadataFile, writeMetadata } from '../runtime/metadata.js';
import { currentStamp, type FileStamp } from '../runtime/private-file.js';
import { isSameProcess } from '../runtime/process.js';
import { checkToken, restoreToken } from '../runtime/token.js';
import type { DaemonMetadata, RuntimePaths } from '../types.js';
import { socketIdAt } from './listen.js';

/** What the upkeep needs from its daemon. */
export interface UpkeepHost {
  /** Whether the daemon still serves: a draining daemon leaves its files alone. */
  isServing(): boolean;
  /** A valid record of another live daemon replaced this one's. */
  superseded(by: DaemonMetadata): void;
  /**
   * The ipc socket file is gone or is not the one bound: close the server and listen again on
   * the same path. Resolves with the new socket's id, or undefined when the daemon stopped
   * serving meanwhile.
   */
  rebind(): Promise<string | undefined>;
  log(line: string): void;
}

/** One serving daemon's upkeep of metadata.json, token and ipc socket. */
export class FileUpkeep {
  readonly #paths: RuntimePaths;
  readonly #metadata: DaemonMetadata;
  readonly #token: Uint8Array;
  readonly #host: UpkeepHost;
  /** metadata.json and its copy as last read and found to name this daemon: while unchanged, not re-read. */
  readonly #recordStamps = new Map<string, FileStamp>();
  /** The token file as last read and found to hold this daemon's secret. */
  #tokenStamp: FileStamp | undefined;
  /** The socket file this daemon bound (device:inode); undefined for tcp and named pipes. */
  #socketId: string | undefined;
  /** A re-bind is under way. */
  #rebinding = false;
  /** The last failure logged per file: a lasting one is logged once, not ten times a second. */
  readonly #troubles = new Map<string, string>();

  /** `socketId`: the ipc socket file bound (see ./listen.ts), or undefined when there is none to watch. */
  constructor(paths: RuntimePaths, metadata: DaemonMetadata, token: Uint8Array, socketId: string | undefined, host: UpkeepHost) {
    this.#paths = paths;
    this.#metadata = metadata;
    this.#token = token;
    this.#socketId = socketId;
    this.#host = host;
  }

  /** One check of every file; a daemon that no longer serves leaves them alone. */
  check(): void {
    if (!this.#host.isServing()) return;
    this.#keepRecord(this.#paths.metadata);
    // Superseded: draining now, and the files are the successor's.
    if (!this.#host.isServing()) return;
    this.#keepRecord(backupPathOf(this.#paths.metadata));
    this.#keepToken();
    this.#watchSocket();
  }

  /** Keeps the record at `path` (metadata.json, or its copy) naming this daemon. */
  #keepRecord(path: string): void {
    const stamp = currentStamp(path);
    if (stamp !== undefined && stamp === this.#recordStamps.get(path)) return;
    this.#recordStamps.delete(path);
    const { read, stamp: readStamp } = readMetadataFile(path);
    if (read.status === 'unreadable') {
      this.#trouble(basename(path), `could not read ${basename(path)}; will look again`, read.error);
      return;
    }
    if (read.status === 'valid') {
      if (read.metadata.instanceId === this.#metadata.instanceId) {
        if (readStamp !== undefined) this.#recordStamps.set(path, readStamp);
        this.#troubles.delete(basename(path));
      } else if (this.#isLive(read.metadata)) {
        this.#host.superseded(read.metadata);
      }
      return;
    }
    this.#troubles.delete(basename(path));
    this.#writeRecord(`${basename(path)} ${read.status === 'absent' ? 'vanished' : `was damaged (${read.reason})`}`);
  }

  /** Whether the daemon `other` names runs; false when that cannot be told now (logged, looked at again next check). */
  #isLive(other: DaemonMetadata): boolean {
    try {
      return isSameProcess(other.pid, other.startTime);
    } catch (error) {
      this.#trouble('superseded', `could not tell whether pid ${other.pid}, named by metadata.json, runs; will look again`, error);
      return false;
    }
  }

  /** Writes this daemon's record (and its copy) atomically over whatever is there; `why` goes to the log. */
  #writeRecord(why: string): void {
    try {
      writeMetadata(this.#paths.metadata, this.#metadata);
      this.#host.log(`${why}; rewrote it`);
      this.#troubles.delete('metadata');
    } catch (error) {
      this.#trouble('metadata', `${why}; could not rewrite it`, error);
    }
  }

  #keepToken(): void {
    const path = this.#paths.token;
    const stamp = currentStamp(path);
    if (stamp !== undefined && stamp === this.#tokenStamp) return;
    this.#tokenStamp = undefined;
    const found = checkToken(path, this.#token);
    if (found.status === 'unreadable') {
      this.#trouble('token', 'could not read the token file; will look again', found.error);
      return;
    }
    if (found.status === 'same') {
      // Verified by reading; the next checks only compare stamps.
      this.#tokenStamp = found.stamp;
      return;
    }
    const why = found.status === 'absent' ? 'vanished' : `was replaced (${found.reason})`;
    try {
      restoreToken(path, this.#token);
      this.#host.log(`token ${why}; restored this daemon's secret`);
      this.#troubles.delete('token');
    } catch (error) {
      this.#trouble('token', `token ${why}; could not restore it`, error);
    }
  }

  #watchSocket(): void {
    if (this.#socketId === undefined || this.#rebinding) return;
    const path = this.#metadata.path!;
    if (socketIdAt(path) === this.#socketId) return;
    this.#rebinding = true;
    this.#host.rebind().then(
      (socketId) => {
        this.#rebinding = false;
        if (socketId === undefined) return;
        this.#socketId = socketId;
        this.#troubles.delete('socket');
        this.#host.log(`ipc socket ${path} was deleted or replaced; re-bound it`);
        this.#republish();
      },
      (error: unknown) => {
        this.#rebinding = false;
        this.#trouble('socket', `could not re-bind the ipc socket ${path}`, error);
      },
    );
  }

  /** Rewrites the record after a re-bind, unless it already names a successor (the next check sees to that). */
  #republish(): void {
    const { read } = readMetadataFile(this.#paths.metadata);
    this.#recordStamps.clear();
    if (read.status === 'valid' && read.metadata.instanceId !== this.#metadata.instanceId) return;
    if (read.status === 'unreadable') {
      // Nothing is known of what is there: the next checks read it again, and rewrite it once it reads as damaged.
      this.#trouble('metadata.json', 'could not read metadata.json after re-binding; will look again', read.error);
      return;
    }
    this.#writeRecord('metadata.json must name the re-bound socket');
  }

  /** Logs `what` failed with `error`, unless the last failure for `file` was the same (by errno: messages name temp files). */
  #trouble(file: string, what: string, error: unknown): void {
    const key = `${what}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
    if (this.#troubles.get(file) === key) return;
    this.#troubles.set(file, key);
    this.#host.log(`${what}: ${(error as Error).message}`);
  }
}
