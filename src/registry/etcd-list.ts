/**
 * Every cluster singleton an etcd cluster records, for `loopback-singleton list --registry`:
 * per name, the daemon that holds its place (the first campaign key, ./etcd.ts), its fencing
 * token, how many daemons wait behind it, and whether a start is under way. One range read of
 * this package's keys; nothing is written, no lease is taken.
 */
import { COLD_REQUEST_TIMEOUT_MS, ETCD_ROOT, etcdClient, loadEtcd3, withinRequestTimeout } from './etcd-client.js';
import type { RegistryEndpoints } from './endpoints.js';
import { type ClusterRecord, decodeRecord } from './record.js';
import { registryUnavailable } from './unavailable.js';

/** One cluster singleton as its registry records it. */
export type ClusterListing = {
  readonly name: string;
  /** The leader's election key's create revision, as a decimal string (JSON has no bigint); empty while `starting`. */
  readonly fencingToken: string;
  /** Daemons campaigning behind the leader (a new one waiting for the old one's lease). */
  readonly waiting: number;
  /** Someone holds the right to start a daemon of this name. */
  readonly startInProgress: boolean;
} & (
  | { readonly status: 'serving'; readonly record: ClusterRecord }
  | { readonly status: 'malformed'; readonly reason: string }
  /** No daemon holds the place; one is being started. */
  | { readonly status: 'starting' }
);

/** The keys this reads: `election/<name>/daemon/<lease>` and `election/<name>/start/<lease>` under {@link ETCD_ROOT}. */
const KEY = /^election\/([^/]+)\/(daemon|start)\/[^/]+$/;

/**
 * Lists the cluster singletons recorded at `endpoints`, by name.
 * @throws {RegistryError} (`ERR_REGISTRY_UNAVAILABLE`) naming the endpoints, when etcd does not answer within `requestTimeoutMs`.
 */
export async function listEtcdSingletons(endpoints: RegistryEndpoints, requestTimeoutMs = COLD_REQUEST_TIMEOUT_MS): Promise<ClusterListing[]> {
  const client = etcdClient(await loadEtcd3(), endpoints, requestTimeoutMs);
  try {
    const response = await withinRequestTimeout(client.namespace(ETCD_ROOT).getAll().prefix('election/').sort('Create', 'Ascend').exec(), requestTimeoutMs).catch(
      (error: unknown) => {
        throw registryUnavailable(endpoints.text, 'listing the cluster singletons', error);
      },
    );
    const byName = new Map<string, { daemons: { value: Buffer; revision: string }[]; starting: boolean }>();
    for (const kv of response.kvs) {
      const match = KEY.exec(kv.key.toString('utf8'));
      if (match === null) continue;
      const [, name, kind] = match as unknown as [string, string, 'daemon' | 'start'];
      const entry = byName.get(name) ?? { daemons: [], starting: false };
      byName.set(name, entry);
      if (kind === 'start') entry.starting = true;
      else entry.daemons.push({ value: kv.value, revision: kv.create_revision });
    }
    const listings: ClusterListing[] = [];
    for (const [name, { daemons, starting }] of [...byName].sort(([a], [b]) => a.localeCompare(b))) {
      const leader = daemons[0];
      if (leader === undefined) {
        listings.push({ name, fencingToken: '', waiting: 0, startInProgress: starting, status: 'starting' });
        continue;
      }
      const common = { name, fencingToken: leader.revision, waiting: daemons.length - 1, startInProgress: starting };
      const decoded = decodeRecord(leader.value);
      listings.push(decoded.status === 'valid' ? { ...common, status: 'serving', record: decoded.record } : { ...common, status: 'malformed', reason: decoded.reason });
    }
    return listings;
  } finally {
    client.close();
  }
}
