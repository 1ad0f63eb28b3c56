/**
 * One daemon's place in etcd, once elected: its campaign (etcd3's Election API), the lease
 * the campaign keeps alive, the local lease deadline (./lease-clock.ts) fed by that lease's
 * keepalives, and a watch on the election that notices when its key is gone or another comes
 * first. The place is lost, once and for good, on whichever comes first:
 *
 * - `expired`: the local deadline passed with no renewal answered (etcd unreachable, no quorum,
 *   this process paused), noticed by a timer or by the next {@link EtcdPublication.isHeld};
 * - `revoked`: etcd answered a renewal with TTL 0, or etcd3 gave the lease up;
 * - `superseded`: the election key was deleted, or one created earlier appeared.
 *
 * On a loss the lease stops being renewed and is revoked (best effort): a lost place is never
 * taken up again by this object; the daemon drains, and a new campaign is a new publication.
 */
import type { Campaign, IKeyValue, ILeaseKeepAliveResponse, Lease, Watcher } from 'etcd3';
import type { LeaseClock } from './lease-clock.js';
import type { Loss, LossReason, Publication } from './registry.js';

/** What a publication is built from (see ./etcd.ts). */
export interface EtcdPlace {
  readonly campaign: Campaign;
  readonly lease: Lease;
  readonly clock: LeaseClock;
  /** Removes the lease listeners that feed the clock. */
  readonly unfollow: () => void;
  /** The election key (relative to the watcher's namespace) and its create revision. */
  readonly key: string;
  readonly createRevision: bigint;
  /** A watcher on the election's prefix, from the revision after the one the key was read at. */
  readonly watcher: Watcher;
}

/**
 * Feeds `clock` from `lease`'s keepalive events: a renewal sent, answered (with its TTL), its
 * stream replaced, or the lease given up. Returns a function that removes the listeners.
 */
export function followLease(lease: Lease, clock: LeaseClock): () => void {
  const sent = () => clock.sent();
  const answered = (response: ILeaseKeepAliveResponse) => clock.answered(Number(response.TTL));
  const reset = () => clock.reset();
  const lost = () => clock.expire();
  lease.on('keepaliveFired', sent);
  lease.on('keepaliveSucceeded', answered);
  lease.on('keepaliveEstablished', reset);
  lease.on('keepaliveFailed', reset);
  lease.on('lost', lost);
  return () => {
    lease.off('keepaliveFired', sent);
    lease.off('keepaliveSucceeded', answered);
    lease.off('keepaliveEstablished', reset);
    lease.off('keepaliveFailed', reset);
    lease.off('lost', lost);
  };
}

/** A daemon's record held in etcd (see the header). */
export class EtcdPublication<R> implements Publication<R> {
  readonly record: R;
  readonly fencingToken: bigint;
  readonly #place: EtcdPlace;
  readonly #listeners = new Set<(loss: Loss) => void>();
  /** Set once the place is lost or given up: nothing is renewed or reported after it. */
  #ended = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #onEnd: () => void;

  /** @param onEnd called once when it ends, lost or unpublished (the registry forgets it). */
  constructor(record: R, place: EtcdPlace, onEnd: () => void) {
    this.record = record;
    this.fencingToken = place.createRevision;
    this.#place = place;
    this.#onEnd = onEnd;
    place.lease.on('lost', (error) => this.#lose('revoked', error));
    place.campaign.on('error', (error) => this.#lose('revoked', error));
    place.watcher.on('delete', (kv: IKeyValue) => {
      if (kv.key.toString() === place.key) this.#lose('superseded');
    });
    place.watcher.on('put', (kv: IKeyValue) => {
      if (BigInt(kv.create_revision) < place.createRevision) this.#lose('superseded');
    });
    // A watch that broke reconnects by itself; the deadline covers the time it is away.
    place.watcher.on('error', () => {});
    this.#arm();
  }

  holdsLeaseUntil(): number {
    return this.#ended ? Number.NEGATIVE_INFINITY : this.#place.clock.deadline;
  }

  isHeld(): boolean {
    if (this.#ended) return false;
    if (this.#place.clock.holds()) return true;
    this.#lose('expired');
    return false;
  }

  onLost(listener: (loss: Loss) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async unpublish(): Promise<void> {
    if (this.#ended) return;
    this.#end();
    // Revoking the lease deletes the key: the next daemon is elected at once, not after the TTL.
    await this.#place.campaign.resign().catch(() => {});
  }

  /** Sets the timer for the deadline; when it fires with the deadline moved on, it sets itself again. */
  #arm(): void {
    if (this.#ended) return;
    const wait = this.#place.clock.deadline - performance.now();
    if (wait <= 0) {
      this.#lose('expired');
      return;
    }
    this.#timer = setTimeout(() => this.#arm(), Math.min(wait, 0x7fffffff));
    // Whatever serves the daemon keeps the process alive, not this timer.
    this.#timer.unref();
  }

  #end(): void {
    this.#ended = true;
    clearTimeout(this.#timer);
    this.#place.clock.expire();
    this.#place.unfollow();
    void this.#place.watcher.cancel().catch(() => {});
    this.#onEnd();
  }

  #lose(reason: LossReason, error?: unknown): void {
    if (this.#ended) return;
    const deadline = this.#place.clock.deadline;
    this.#end();
    // Stop renewing at once (resign closes the lease before it asks etcd to revoke it); the
    // revoke is best effort: without a quorum etcd expires the lease on its own.
    void this.#place.campaign.resign().catch(() => {});
    const loss: Loss = error === undefined ? { reason, deadline, at: performance.now() } : { reason, deadline, at: performance.now(), error };
    for (const listener of this.#listeners) listener(loss);
    this.#listeners.clear();
  }
}
