/**
 * `loopback-singleton list --registry <endpoints>`: the cluster singletons an etcd cluster
 * records (../registry/etcd-list.ts), each serving daemon probed over the protocol
 * (./probe-cluster.ts), as a table or as JSON. Loaded only with --registry, so that a plain
 * `list` loads nothing of the cluster registry.
 */
import { parseRegistryEndpoints, type RegistryEndpoints } from '../registry/endpoints.js';
import { type ClusterListing, listEtcdSingletons } from '../registry/etcd-list.js';
import { CliFailure, UsageError } from './args.js';
import { formatDuration, formatTable, printJson } from './format.js';
import { type ClusterProbe, type ProbeCredentials, probeRecord } from './probe-cluster.js';

/** One row of `list --registry --json`: the listing, and its daemon probed (null when none serves). */
export type ClusterEntry = ClusterListing & { readonly probe: ClusterProbe | null };

/** The endpoints of `--registry`. @throws {UsageError} saying what to write. */
function endpointsOf(value: string): RegistryEndpoints {
  try {
    return parseRegistryEndpoints(value, '--registry');
  } catch (error) {
    throw new UsageError(`list: ${(error as Error).message}`);
  }
}

/**
 * Lists the cluster singletons at `registry`, their daemons probed in parallel with
 * `credentials`; resolves with the exit code.
 * @throws {CliFailure} (exit 1, one line) when etcd does not answer (`ERR_REGISTRY_UNAVAILABLE`).
 */
export async function runCluster(registry: string, json: boolean, credentials: ProbeCredentials, now = Date.now()): Promise<number> {
  const endpoints = endpointsOf(registry);
  let listings: ClusterListing[];
  try {
    listings = await listEtcdSingletons(endpoints);
  } catch (error) {
    throw new CliFailure(`list: ${(error as Error).message}`);
  }
  const singletons: ClusterEntry[] = await Promise.all(
    listings.map(async (entry) => ({ ...entry, probe: entry.status === 'serving' ? await probeRecord(entry.name, entry.record, credentials) : null })),
  );
  if (json) {
    printJson({ registry: endpoints.text, singletons });
    return 0;
  }
  if (singletons.length === 0) {
    process.stdout.write(`no cluster singletons in ${endpoints.text}\n`);
    return 0;
  }
  const header = ['NAME', 'STATUS', 'MACHINE', 'ADDRESS', 'PID', 'FENCING', 'WAITING', 'PROBE', 'STATE', 'CONNS', 'UPTIME', 'VERSION', 'NOTE'];
  const show = (value: string | number | null | undefined) => (value === null || value === undefined ? '-' : String(value));
  const rows = singletons.map((entry) => {
    const record = entry.status === 'serving' ? entry.record : undefined;
    const { probe } = entry;
    return [
      entry.name,
      entry.status,
      record?.machine ?? '-',
      record ? `${record.host}:${record.port}` : '-',
      record ? String(record.pid) : '-',
      entry.fencingToken || '-',
      String(entry.waiting),
      show(probe?.status),
      show(probe?.state),
      show(probe?.connections),
      record ? formatDuration(Math.max(0, now - record.startedAt)) : '-',
      record?.packageVersion ?? '-',
      [entry.startInProgress ? 'start in progress' : '', entry.status === 'malformed' ? `malformed record: ${entry.reason}` : '', probe?.detail ?? '']
        .filter(Boolean)
        .join('; '),
    ];
  });
  process.stdout.write(`registry: ${endpoints.text}\n${formatTable(header, rows)}`);
  return 0;
}
