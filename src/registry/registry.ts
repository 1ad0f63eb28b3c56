/**
 * Where daemons are recorded: what the client statechart (machines/client.machine.ts) and the
 * daemon's publishing step need from it, whatever keeps the records. The local default keeps
 * them in the runtime files (./file.ts), `scope: 'cluster'` in etcd (./etcd.ts); the chart's
 * effects sit on this interface in both (../client/starter.ts, ../client/cluster-starter.ts),
 * so the chart, and its diagram, stay true for both.
 *
 * | here                              | the runtime files (./file.ts)                    | etcd (./etcd.ts)                         |
 * | --------------------------------- | ------------------------------------------------ | ---------------------------------------- |
 * | {@link Registry.discover} (`readMetadata`, `recheck`) | `readMetadata(metadata.json)`         | the election's first key                 |
 * | {@link Registry.acquireStartRight} (`acquireLock`) | `acquireSpawnLock`, given up when another record is read | a campaign under `start/`, given up on the watch |
 * | {@link StartRight.release} (`releaseLock`) | the lock's `release()`                  | the campaign's resignation               |
 * | {@link Registry.publish} / {@link Publication.unpublish} | `writeMetadata` / `removeMetadataIf(instanceId)` | a campaign under `daemon/`, its lease |
 * | {@link Registry.watch}            | a poll of metadata.json                          | an etcd watch                            |
 *
 * What the runtime files have and a registry across machines has not: a pid to check. There,
 * a record lives exactly as long as its daemon's lease, and a daemon holds its place only
 * until {@link Publication.holdsLeaseUntil}; `cleanStale` has nothing to remove but records
 * read whole and found invalid. The effects that rest on a pid (cleaning up stale files, the
 * record's copy, waiting for a draining daemon's process to exit) stay local-only, in the
 * starter (see docs/DESIGN.md, "Cluster registry").
 */

/** The outcome of reading the current record: the record, or why there is none usable. */
export type RecordRead<R> =
  /** `fencingToken`: the record's place in the registry's order (etcd: its key's create revision); undefined where the registry has none. */
  | { readonly status: 'valid'; readonly record: R; readonly fencingToken: bigint | undefined }
  | { readonly status: 'absent' }
  /** Read whole and found invalid: stale, and may be removed under the start right. */
  | { readonly status: 'malformed'; readonly reason: string }
  /** The read itself failed (EMFILE, an unreachable etcd...): evidence of nothing; nothing may be cleaned up on it. */
  | { readonly status: 'unreadable'; readonly reason: string; readonly error: unknown };

/** The right to start a daemon (the spawn lock, locally), held until released. */
export interface StartRight {
  /** Gives the right up; never throws; idempotent. */
  release(): Promise<void>;
  /** Set when the right was lost while held (its lease expired, or the lock was taken over). */
  readonly lost: Error | undefined;
}

/** Why a publication ended without its daemon unpublishing. */
export type LossReason =
  /** No renewal came back before the local lease deadline: the registry may already have given the place to another daemon. */
  | 'expired'
  /** The registry said the lease is gone (revoked, or expired on its side). */
  | 'revoked'
  /** The record was removed, or another daemon's record now comes first. */
  | 'superseded';

/** What a publication's loss listeners are told. */
export interface Loss {
  readonly reason: LossReason;
  /** The local lease deadline at the time of the loss (monotonic ms, `performance.now()`). */
  readonly deadline: number;
  /** When the loss was noticed (monotonic ms). */
  readonly at: number;
  readonly error?: unknown;
}

/** A daemon's published record, held while its lease is. */
export interface Publication<R> {
  readonly record: R;
  /**
   * Where the registry keeps an order of publications, strictly larger for every later one of the
   * same name (etcd: the election key's create revision). The file system keeps none: `0n`
   * there, where the spawn lock and the pid check fence instead (./file.ts).
   */
  readonly fencingToken: bigint;
  /**
   * Until when (monotonic ms, `performance.now()`) this daemon surely holds its place: the
   * send time of the last renewal the registry answered plus the TTL it answered with. Computed
   * locally, no round trip; a process that was paused errs on the side of "expired". `-Infinity`
   * once lost or unpublished.
   */
  holdsLeaseUntil(): number;
  /**
   * Whether the place is held now: not lost, and before {@link holdsLeaseUntil}. Cheap enough for
   * every reply. A deadline found passed here is the loss itself: the listeners are told
   * (synchronously) before it returns false.
   */
  isHeld(): boolean;
  /** Calls `listener` once when the place is lost (not after {@link unpublish}). Returns a function that removes it. */
  onLost(listener: (loss: Loss) => void): () => void;
  /** Removes the record and gives the place up; idempotent; never throws. */
  unpublish(): Promise<void>;
}

/** A watch on the current record, until closed. */
export interface RecordWatch {
  /** Stops watching; idempotent. */
  close(): Promise<void>;
}

/** Where the daemons of one singleton name are recorded. `R` is the record a daemon publishes. */
export interface Registry<R extends { readonly instanceId: string }> {
  /** Where the records are, for messages (`etcd://127.0.0.1:2379,...`). */
  readonly where: string;
  /** The current record: the one daemon clients must use, if any. Never throws: a failed read is `unreadable`. */
  discover(signal?: AbortSignal): Promise<RecordRead<R>>;
  /**
   * Waits for the right to start a daemon. Gives up waiting, resolving undefined, when a valid
   * record other than the one of instance `staleInstanceId` (the record just found unusable,
   * if any) is current meanwhile: going back to discovery then finds it.
   * @throws the signal's reason when it aborts; the registry's error when it cannot be reached.
   */
  acquireStartRight(staleInstanceId: string | undefined, signal: AbortSignal): Promise<StartRight | undefined>;
  /**
   * The daemon's side: publishes `record` and resolves once it is the current one (once the
   * place is free: a daemon whose lease still runs keeps it until it expires or unpublishes).
   * @throws the signal's reason when it aborts first (nothing stays published); the registry's error.
   */
  publish(record: R, signal?: AbortSignal): Promise<Publication<R>>;
  /** Calls `listener` with the current record now and whenever it changes (another daemon, or none). */
  watch(listener: (read: RecordRead<R>) => void): Promise<RecordWatch>;
  /** Closes the connection to the registry; publications still held are unpublished first. Idempotent. */
  close(): Promise<void>;
}
