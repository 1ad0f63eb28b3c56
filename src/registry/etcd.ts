/**
 * The {@link Registry} on etcd, for `scope: 'cluster'`: one etcd election per singleton name.
 * It loads the etcd client (`etcd3`, with gRPC under it, through ./etcd-client.ts) only when a
 * registry is opened: the local default never loads it.
 *
 * Keys, under `loopback-singleton/election/<name>/`:
 * - `daemon/<lease id>`: each daemon's campaign, its {@link ClusterRecord} as the value, under
 *   its lease. The key created first is the leader, the one daemon clients use; its create
 *   revision is the fencing token (strictly larger for every later leader).
 * - `start/<lease id>`: campaigns for the right to start a daemon (the spawn lock of the
 *   runtime files), so that machines that find no daemon do not all start one.
 *
 * A lease is kept alive by etcd3 (a renewal every TTL / 3); ./lease-clock.ts turns the
 * renewals into a local deadline, ./etcd-publication.ts acts on it.
 *
 * Faults: a read that fails is `unreadable` (data: evidence of nothing); every other request
 * that etcd does not answer (no connection, no quorum, past `requestTimeoutMs`) throws a
 * `RegistryError` (`ERR_REGISTRY_UNAVAILABLE`, ./unavailable.ts) naming the endpoints. Watches
 * are streams with no deadline of their own: creating one is given `requestTimeoutMs` here.
 */
import { hostname } from 'node:os';
import type { Election, Etcd3, Namespace, WatchBuilder, Watcher } from 'etcd3';
import type { RegistryEndpoints } from './endpoints.js';
import { ETCD_ROOT, type Etcd3Module, etcdClient, loadEtcd3, withinRequestTimeout } from './etcd-client.js';
import { campaignFor, elected, leaseOf } from './etcd-campaign.js';
import { EtcdPublication, followLease } from './etcd-publication.js';
import { LeaseClock } from './lease-clock.js';
import { type ClusterRecord, decodeRecord, encodeRecord } from './record.js';
import type { Publication, RecordRead, RecordWatch, Registry, StartRight } from './registry.js';
import { registryUnavailable } from './unavailable.js';

/** Options of {@link openEtcdRegistry}. */
export interface EtcdRegistryOptions {
  /** The etcd cluster (./endpoints.ts). */
  readonly endpoints: RegistryEndpoints;
  /** The singleton's name (checked by the caller: `[A-Za-z0-9._-]`, 1-64 characters). */
  readonly name: string;
  /**
   * The TTL of a daemon's lease, seconds (an integer >= 1; etcd raises it to its own minimum).
   * How long clients may wait for a new daemon after the host of the old one died or was cut off.
   * @default 5
   */
  readonly leaseTtlSeconds?: number;
  /**
   * The deadline of one etcd request, ms (streams excepted: they live as long as needed).
   * @default 2000
   */
  readonly requestTimeoutMs?: number;
}

/** What identifies a read, to tell a change from a repeat. */
function signature(read: RecordRead<ClusterRecord>): string {
  return read.status === 'valid' ? `valid:${read.fencingToken}:${read.record.instanceId}` : read.status === 'malformed' ? `malformed:${read.reason}` : read.status;
}

/** The registry of one singleton name on etcd (see the header). */
export class EtcdRegistry implements Registry<ClusterRecord> {
  readonly where: string;
  readonly #module: Etcd3Module;
  readonly #client: Etcd3;
  readonly #ns: Namespace;
  readonly #daemons: Election;
  readonly #starts: Election;
  /** The daemon campaigns' prefix, relative to #ns. */
  readonly #daemonPrefix: string;
  readonly #ttl: number;
  readonly #requestTimeoutMs: number;
  readonly #name: string;
  readonly #held = new Set<EtcdPublication<ClusterRecord>>();
  readonly #watches = new Set<RecordWatch>();
  #closed = false;

  /** Use {@link openEtcdRegistry}. */
  constructor(module: Etcd3Module, options: EtcdRegistryOptions) {
    const { endpoints, name, leaseTtlSeconds = 5, requestTimeoutMs = 2000 } = options;
    this.where = endpoints.text;
    this.#module = module;
    this.#ttl = leaseTtlSeconds;
    this.#requestTimeoutMs = requestTimeoutMs;
    this.#name = name;
    this.#client = etcdClient(module, endpoints, requestTimeoutMs);
    this.#ns = this.#client.namespace(ETCD_ROOT);
    this.#daemons = this.#ns.election(`${name}/daemon`, leaseTtlSeconds);
    this.#starts = this.#ns.election(`${name}/start`, leaseTtlSeconds);
    this.#daemonPrefix = `election/${name}/daemon/`;
  }

  async discover(signal?: AbortSignal): Promise<RecordRead<ClusterRecord>> {
    try {
      signal?.throwIfAborted();
      const response = await withinRequestTimeout(this.#ns.getAll().prefix(this.#daemonPrefix).sort('Create', 'Ascend').limit(1).exec(), this.#requestTimeoutMs);
      const kv = response.kvs[0];
      if (kv === undefined) return { status: 'absent' };
      const decoded = decodeRecord(kv.value);
      if (decoded.status === 'malformed') return decoded;
      return { status: 'valid', record: decoded.record, fencingToken: BigInt(kv.create_revision) };
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      return { status: 'unreadable', reason: `etcd at ${this.where} did not answer: ${(error as Error)?.message ?? String(error)}`, error };
    }
  }

  async acquireStartRight(staleInstanceId: string | undefined, signal: AbortSignal): Promise<StartRight | undefined> {
    signal.throwIfAborted();
    const aborted = new AbortController();
    const onAbort = () => aborted.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const campaign = campaignFor(this.#starts, `${hostname()} pid ${process.pid}`);
    // Listened for at once: the campaign may be elected while the watch below is being set up.
    const won = elected(campaign, aborted.signal, (error) => this.#fault('campaigning for the right to start a daemon', error));
    let watch: RecordWatch | undefined;
    try {
      watch = await this.watch((read) => {
        // Someone else's daemon got published: go back to discovery instead of starting one.
        if (read.status === 'valid' && read.record.instanceId !== staleInstanceId) aborted.abort('published');
      });
      await won;
    } catch (error) {
      // Also ends the wait for the election when the watch is what failed.
      aborted.abort(error);
      await won.catch(() => {});
      await campaign.resign().catch(() => {});
      if (aborted.signal.reason === 'published') return undefined;
      throw error;
    } finally {
      signal.removeEventListener('abort', onAbort);
      await watch?.close();
    }
    let lost: Error | undefined;
    campaign.on('error', (error: Error) => {
      lost = error;
    });
    return {
      get lost() {
        return lost;
      },
      release: () => campaign.resign().catch(() => {}),
    };
  }

  async publish(record: ClusterRecord, signal?: AbortSignal): Promise<Publication<ClusterRecord>> {
    if (this.#closed) throw new Error('This registry is closed');
    signal?.throwIfAborted();
    const value = encodeRecord(record);
    // Before the campaign: it sends the lease grant as it is made, and the deadline counts from the send.
    const clock = new LeaseClock(performance.now(), this.#ttl);
    const campaign = campaignFor(this.#daemons, value);
    let unfollow = () => {};
    try {
      const lease = leaseOf(this.#module, campaign);
      unfollow = followLease(lease, clock);
      const doing = 'publishing this daemon';
      await elected(campaign, signal, (error) => this.#fault(doing, error));
      const leaseId = await this.#ask(doing, lease.grant());
      const key = `${this.#daemonPrefix}${leaseId}`;
      // The key's create revision is the fencing token; the first key of the election must be ours.
      const response = await this.#ask(doing, this.#ns.getAll().prefix(this.#daemonPrefix).sort('Create', 'Ascend').limit(1).exec());
      const first = response.kvs[0];
      if (first === undefined || first.key.toString() !== key) {
        throw new Error(
          `Elected in etcd at ${this.where}, but the election's first key is ${first ? `another (${first.key.toString()})` : 'gone'}: the place was lost at once`,
        );
      }
      const watcher = await this.#openWatcher(
        doing,
        this.#ns
          .watch()
          .prefix(this.#daemonPrefix)
          .startRevision(String(BigInt(response.header.revision) + 1n)),
      );
      const place = { campaign, lease, clock, unfollow, key, createRevision: BigInt(first.create_revision), watcher };
      const publication = new EtcdPublication(record, place, () => this.#held.delete(publication));
      this.#held.add(publication);
      return publication;
    } catch (error) {
      unfollow();
      await campaign.resign().catch(() => {});
      throw error;
    }
  }

  async watch(listener: (read: RecordRead<ClusterRecord>) => void): Promise<RecordWatch> {
    const watcher = await this.#openWatcher(`watching the record of "${this.#name}"`, this.#ns.watch().prefix(this.#daemonPrefix));
    let last: string | undefined;
    let closed = false;
    // One read at a time, in order: a change seen twice is told once, and never out of order.
    let reading = Promise.resolve();
    const look = () => {
      reading = reading
        .then(async () => {
          const read = await this.discover();
          const seen = signature(read);
          if (closed || seen === last) return;
          last = seen;
          listener(read);
        })
        .catch(() => {}); // a listener that throws does not end the watch
    };
    watcher.on('put', look);
    watcher.on('delete', look);
    // Reconnected after a break: whatever happened meanwhile is read afresh.
    watcher.on('connected', look);
    watcher.on('error', () => {});
    look();
    await reading;
    const watch: RecordWatch = {
      close: async () => {
        if (closed) return;
        closed = true;
        this.#watches.delete(watch);
        await watcher.cancel().catch(() => {});
      },
    };
    this.#watches.add(watch);
    return watch;
  }

  /** A failed request to etcd while `doing`, as the {@link RegistryError} it is. */
  #fault(doing: string, error: unknown): unknown {
    return registryUnavailable(this.where, `${doing} (name "${this.#name}")`, error);
  }

  /** `request`'s result within `requestTimeoutMs`; its failure as a {@link RegistryError}. */
  async #ask<T>(doing: string, request: Promise<T>): Promise<T> {
    try {
      return await withinRequestTimeout(request, this.#requestTimeoutMs);
    } catch (error) {
      throw this.#fault(doing, error);
    }
  }

  /**
   * The watcher `builder` makes, once etcd accepted it, within `requestTimeoutMs`: etcd3 would
   * wait for a stream forever. A watcher that connects after the deadline is cancelled.
   */
  async #openWatcher(doing: string, builder: WatchBuilder): Promise<Watcher> {
    const creating = builder.create();
    try {
      return await withinRequestTimeout(creating, this.#requestTimeoutMs);
    } catch (error) {
      void creating.then(
        (late) => late.cancel().catch(() => {}),
        () => {},
      );
      throw this.#fault(doing, error);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#held].map((publication) => publication.unpublish()));
    await Promise.all([...this.#watches].map((watch) => watch.close()));
    this.#client.close();
  }
}

/**
 * Opens the registry of the singleton `name` on the etcd cluster at `endpoints`, loading the
 * etcd client now. Connects lazily: the first request does.
 * @example
 * const registry = await openEtcdRegistry({ endpoints: parseRegistryEndpoints('etcd://10.0.0.1:2379'), name: 'counter' });
 * const place = await registry.publish(record); // resolves once this daemon is the leader
 * if (place.isHeld()) reply(); // a local deadline, no round trip
 */
export async function openEtcdRegistry(options: EtcdRegistryOptions): Promise<EtcdRegistry> {
  const { leaseTtlSeconds = 5, requestTimeoutMs = 2000 } = options;
  if (!Number.isSafeInteger(leaseTtlSeconds) || leaseTtlSeconds < 1) {
    throw new TypeError(`Expected \`leaseTtlSeconds\` to be an integer >= 1, got ${String(leaseTtlSeconds)}`);
  }
  if (!Number.isFinite(requestTimeoutMs) || requestTimeoutMs < 1) {
    throw new TypeError(`Expected \`requestTimeoutMs\` to be a finite number >= 1, got ${String(requestTimeoutMs)}`);
  }
  return new EtcdRegistry(await loadEtcd3(), options);
}
