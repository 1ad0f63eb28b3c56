/**
 * The {@link Registry} on the runtime files of one singleton: the local default. The client
 * statechart's local effects (../client/starter.ts) run on it, as `scope: 'cluster'`'s run on
 * etcd (./etcd.ts), so that the chart's discovery, lock and publish steps sit on one interface.
 * It is a thin face over the runtime files; every rule stays where it was:
 *
 * | here                               | the runtime files (../runtime/)                                      |
 * | ---------------------------------- | -------------------------------------------------------------------- |
 * | {@link FileRegistry.discover}      | `readMetadata(metadata.json)`; `fencingToken` undefined              |
 * | {@link FileRegistry.acquireStartRight} | `acquireSpawnLock`, given up when a valid record other than the stale one is read |
 * | `StartRight.lost` / `release()`    | the held lock's `compromised` / `release()`                          |
 * | {@link FileRegistry.publish}       | `writeMetadata` (atomic: temp file + rename; its copy too)            |
 * | `Publication.unpublish()`          | `removeMetadataIf(instanceId)`: compare-and-delete, a newer record stays |
 * | {@link FileRegistry.watch}         | a read of metadata.json every {@link WATCH_POLL_MS}, as the lock's wait polls |
 *
 * What the files have and etcd has not is a pid to check: cleaning up stale files, the record's
 * copy (metadata.backup.json), waiting for a draining daemon's process to exit, telling a live
 * daemon that does not answer from a dead one. Those stay local-only effects of the starter.
 * What etcd has and the files have not is a lease and an order: a record stays until its daemon
 * removes it (or a start judges it stale by its pid), so a publication is held until it is
 * unpublished and is never lost, and its fencing token is 0n (see {@link Publication.fencingToken}).
 * The place is given by the start right: a daemon publishes while its spawner holds the lock.
 *
 * Construction does no I/O; nothing runs until a method is called.
 */
import { acquireSpawnLock } from '../runtime/lock.js';
import { type MetadataRead, readMetadata, removeMetadataIf, writeMetadata } from '../runtime/metadata.js';
import type { DaemonMetadata, RuntimePaths } from '../types.js';
import type { Publication, RecordRead, RecordWatch, Registry, StartRight } from './registry.js';

/** How often {@link FileRegistry.watch} reads metadata.json again. */
export const WATCH_POLL_MS = 25;

/** A read of metadata.json as a registry read: an unreadable one stays unreadable (evidence of nothing). */
export function recordRead(read: MetadataRead): RecordRead<DaemonMetadata> {
  switch (read.status) {
    case 'valid':
      return { status: 'valid', record: read.metadata, fencingToken: undefined };
    case 'unreadable':
      return { status: 'unreadable', reason: read.reason, error: read.error };
    default:
      return read;
  }
}

/** What identifies a read, to tell a change from a repeat (a daemon that rewrites the same record changes nothing). */
function signature(read: RecordRead<DaemonMetadata>): string {
  return read.status === 'valid' ? `valid:${JSON.stringify(read.record)}` : read.status === 'malformed' ? `malformed:${read.reason}` : read.status;
}

/** A daemon's record in metadata.json: held until unpublished, never lost (files have no lease). */
class FilePublication implements Publication<DaemonMetadata> {
  readonly record: DaemonMetadata;
  /** The file system keeps no order of publications; the spawn lock and the pid check fence instead. */
  readonly fencingToken = 0n;
  readonly #path: string;
  readonly #ended: (publication: FilePublication) => void;
  #held = true;

  constructor(path: string, record: DaemonMetadata, ended: (publication: FilePublication) => void) {
    this.#path = path;
    this.record = record;
    this.#ended = ended;
  }

  holdsLeaseUntil(): number {
    return this.#held ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  }

  isHeld(): boolean {
    return this.#held;
  }

  onLost(): () => void {
    // Never lost: a record on the file system stays until its daemon removes it.
    return () => {};
  }

  async unpublish(): Promise<void> {
    if (!this.#held) return;
    this.#held = false;
    this.#ended(this);
    try {
      removeMetadataIf(this.#path, this.record.instanceId);
    } catch {
      // A record that cannot be removed (EACCES...) names a process that is gone: the next start judges it stale by its pid.
    }
  }
}

/**
 * The registry of one singleton on its runtime files (see the header).
 * @example
 * const files = new FileRegistry(runtimePaths(root, 'counter'));
 * const read = await files.discover(); // { status: 'valid', record, fencingToken: undefined } | ...
 * const right = await files.acquireStartRight(undefined, AbortSignal.timeout(5000));
 * try { ... } finally { await right?.release(); }
 */
export class FileRegistry implements Registry<DaemonMetadata> {
  /** metadata.json's path, for messages (`read <where>`). */
  readonly where: string;
  readonly #paths: RuntimePaths;
  readonly #held = new Set<FilePublication>();
  readonly #watches = new Set<RecordWatch>();

  /** Takes the singleton's runtime paths (../runtime/paths.ts); touches no file. */
  constructor(paths: RuntimePaths) {
    this.#paths = paths;
    this.where = paths.metadata;
  }

  /** The record in metadata.json now. The read is synchronous: `signal` has nothing to abort. Never throws. */
  async discover(_signal?: AbortSignal): Promise<RecordRead<DaemonMetadata>> {
    return recordRead(readMetadata(this.#paths.metadata));
  }

  /**
   * Waits for the spawn lock. Gives up, resolving undefined, once metadata.json holds a valid
   * record of an instance other than `staleInstanceId` (read between tries of the lock): going
   * back to discovery for the same stale record would spin until the holder is done.
   * @throws the signal's reason when it aborts; the lock's error when it cannot be judged (../runtime/lock.ts).
   */
  async acquireStartRight(staleInstanceId: string | undefined, signal: AbortSignal): Promise<StartRight | undefined> {
    const { metadata } = this.#paths;
    const published = () => {
      const read = readMetadata(metadata);
      return read.status === 'valid' && read.metadata.instanceId !== staleInstanceId;
    };
    const lock = await acquireSpawnLock(this.#paths, published, signal);
    if (lock === undefined) return undefined;
    return {
      get lost() {
        return lock.compromised;
      },
      release: () => lock.release(),
    };
  }

  /**
   * Writes `record` to metadata.json (and its copy), atomically, at once: the place is the
   * start right's, held by the daemon's spawner. Nothing stays published when the write fails.
   * @throws the signal's reason when it is already aborted; the write's error.
   */
  async publish(record: DaemonMetadata, signal?: AbortSignal): Promise<Publication<DaemonMetadata>> {
    signal?.throwIfAborted();
    const { metadata } = this.#paths;
    try {
      writeMetadata(metadata, record);
    } catch (error) {
      // metadata.json may be written and its copy not: neither may name a daemon that failed to publish.
      try {
        removeMetadataIf(metadata, record.instanceId);
      } catch {
        // its pid names a process that is gone or failing: the next start judges it stale
      }
      throw error;
    }
    const publication = new FilePublication(metadata, record, (ended) => this.#held.delete(ended));
    this.#held.add(publication);
    return publication;
  }

  /**
   * Calls `listener` with the record in metadata.json now, then whenever a read every
   * {@link WATCH_POLL_MS} differs from the last (another record, none, or a change of the
   * record, such as its `draining` mark). Its timer does not keep the process alive.
   */
  async watch(listener: (read: RecordRead<DaemonMetadata>) => void): Promise<RecordWatch> {
    let last: string | undefined;
    let closed = false;
    const look = () => {
      if (closed) return;
      const read = recordRead(readMetadata(this.#paths.metadata));
      const seen = signature(read);
      if (seen === last) return;
      last = seen;
      try {
        listener(read);
      } catch {
        // a listener that throws does not end the watch
      }
    };
    const timer = setInterval(look, WATCH_POLL_MS);
    timer.unref();
    const watch: RecordWatch = {
      close: async () => {
        if (closed) return;
        closed = true;
        clearInterval(timer);
        this.#watches.delete(watch);
      },
    };
    this.#watches.add(watch);
    look();
    return watch;
  }

  /** Stops every watch and unpublishes what this registry published and still holds. Idempotent. */
  async close(): Promise<void> {
    await Promise.all([...this.#held].map((publication) => publication.unpublish()));
    await Promise.all([...this.#watches].map((watch) => watch.close()));
  }
}
