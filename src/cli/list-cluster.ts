/**
 * `loopback-singleton list --registry <endpoints>`: the cluster singletons an etcd cluster
 * records (../registry/etcd-list.ts), as a table or as JSON. Loaded only with --registry, so
 * that a plain `list` loads nothing of the cluster registry.
 */
import { parseRegistryEndpoints, type RegistryEndpoints } from '../registry/endpoints.js';
import { listEtcdSingletons } from '../registry/etcd-list.js';
import { CliFailure, UsageError } from './args.js';
import { formatDuration, formatTable, printJson } from './format.js';

/** The endpoints of `--registry`. @throws {UsageError} saying what to write. */
function endpointsOf(value: string): RegistryEndpoints {
  try {
    return parseRegistryEndpoints(value, '--registry');
  } catch (error) {
    throw new UsageError(`list: ${(error as Error).message}`);
  }
}

/** Lists the cluster singletons at `registry`; resolves with the exit code. */
export async function runCluster(registry: string, json: boolean, now = Date.now()): Promise<number> {
  const endpoints = endpointsOf(registry);
  let singletons: Awaited<ReturnType<typeof listEtcdSingletons>>;
  try {
    singletons = await listEtcdSingletons(endpoints);
  } catch (error) {
    throw new CliFailure(`list: ${(error as Error).message}`);
  }
  if (json) {
    printJson({ registry: endpoints.text, singletons });
    return 0;
  }
  if (singletons.length === 0) {
    process.stdout.write(`no cluster singletons in ${endpoints.text}\n`);
    return 0;
  }
  const header = ['NAME', 'STATUS', 'MACHINE', 'ADDRESS', 'PID', 'FENCING', 'WAITING', 'UPTIME', 'VERSION', 'NOTE'];
  const rows = singletons.map((entry) => {
    const record = entry.status === 'serving' ? entry.record : undefined;
    return [
      entry.name,
      entry.status,
      record?.machine ?? '-',
      record ? `${record.host}:${record.port}` : '-',
      record ? String(record.pid) : '-',
      entry.fencingToken || '-',
      String(entry.waiting),
      record ? formatDuration(Math.max(0, now - record.startedAt)) : '-',
      record?.packageVersion ?? '-',
      [entry.startInProgress ? 'start in progress' : '', entry.status === 'malformed' ? `malformed record: ${entry.reason}` : ''].filter(Boolean).join('; '),
    ];
  });
  process.stdout.write(`registry: ${endpoints.text}\n${formatTable(header, rows)}`);
  return 0;
}
