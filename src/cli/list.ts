/**
 * `loopback-singleton list`: every singleton directory under the runtime root, each probed
 * over the protocol (in parallel), as a table or as JSON.
 */
import { formatAddress } from '../runtime/metadata.js';
import { parseMs, UsageError } from './args.js';
import type { CommandContext } from './types.js';
import { formatDuration, formatNode, formatState, formatTable, printJson } from './format.js';
import { probe, singletonNames, type DaemonStatus, type Probe } from './probe.js';

/** One row of `list --json`; null where the status leaves it unknown. */
export interface ListEntry {
  readonly name: string;
  readonly dir: string;
  readonly status: DaemonStatus;
  readonly pid: number | null;
  /** The daemon state as a dotted path (`serving.busy`). */
  readonly state: string | null;
  readonly transport: string | null;
  readonly address: string | null;
  /** Open connections other than the CLI's own. */
  readonly connections: number | null;
  readonly queued: number | null;
  readonly running: number | null;
  readonly callsServed: number | null;
  /** Epoch ms. */
  readonly startedAt: number | null;
  readonly uptimeMs: number | null;
  readonly packageVersion: string | null;
  /** The daemon's Node version (`v20.11.1`). */
  readonly nodeVersion: string | null;
  /** The daemon's Node flags: the `execArgv` option, or those inherited from its spawner. */
  readonly execArgv: readonly string[] | null;
  /** A start holds the spawn lock. */
  readonly startInProgress: boolean;
  /** Why it is not alive. */
  readonly detail: string | null;
}

/** The JSON shape of one probed directory. */
export function toEntry(found: Probe, now = Date.now()): ListEntry {
  const { info, metadata } = found;
  const startedAt = info?.startedAt ?? metadata?.startedAt ?? null;
  return {
    name: found.name,
    dir: found.paths.dir,
    status: found.status,
    pid: info?.pid ?? metadata?.pid ?? null,
    state: info ? formatState(info.state) : null,
    transport: info?.transport ?? metadata?.transport ?? null,
    address: info?.address ?? (metadata ? formatAddress(metadata) : null),
    connections: info ? info.active : null,
    queued: info?.queued ?? null,
    running: info?.running ?? null,
    callsServed: info?.callsServed ?? null,
    startedAt,
    uptimeMs: info && startedAt !== null ? now - startedAt : null,
    packageVersion: info?.packageVersion ?? metadata?.packageVersion ?? null,
    // Older daemons do not say.
    nodeVersion: info?.nodeVersion ?? null,
    execArgv: info?.execArgv ?? null,
    startInProgress: found.startInProgress,
    detail: found.detail ?? null,
  };
}

const show = (value: string | number | null) => (value === null ? '-' : String(value));

/** Options that only `list --registry` takes. */
const CLUSTER_ONLY = ['secret-env', 'tls-cert', 'tls-key', 'tls-ca', 'timeout'] as const;

/** `list --registry`: loads the cluster listing and its probes only now. */
async function runRegistry(registry: string, values: CommandContext['values']): Promise<number> {
  const [{ runCluster }, { probeCredentials }] = await Promise.all([import('./list-cluster.js'), import('./probe-cluster.js')]);
  const timeoutMs = typeof values.timeout === 'string' ? parseMs('timeout', values.timeout, 1, 60_000) : undefined;
  return runCluster(registry, values.json === true, probeCredentials(values, timeoutMs));
}

/** Lists the singletons under `context.root`, or with `--registry` the cluster's (./list-cluster.ts). */
export async function run({ root, values }: CommandContext): Promise<number> {
  if (typeof values.registry === 'string') return runRegistry(values.registry, values);
  const stray = CLUSTER_ONLY.find((option) => values[option] !== undefined);
  if (stray !== undefined) throw new UsageError(`list: \`--${stray}\` goes with \`--registry <endpoints>\``);
  const found = await Promise.all(singletonNames(root).map((name) => probe(root, name)));
  const entries = found.map((probed) => toEntry(probed));
  if (values.json) {
    printJson({ root, singletons: entries });
    return 0;
  }
  if (entries.length === 0) {
    process.stdout.write(`no singletons under ${root}\n`);
    return 0;
  }
  const header = ['NAME', 'STATUS', 'PID', 'STATE', 'ADDRESS', 'CONNS', 'QUEUED', 'UPTIME', 'VERSION', 'NODE', 'NOTE'];
  const rows = entries.map((entry) => [
    entry.name,
    entry.status,
    show(entry.pid),
    show(entry.state),
    entry.address === null ? '-' : `${entry.transport} ${entry.address}`,
    show(entry.connections),
    show(entry.queued),
    entry.uptimeMs === null ? '-' : formatDuration(entry.uptimeMs),
    show(entry.packageVersion),
    entry.nodeVersion === null ? '-' : formatNode(entry.nodeVersion, entry.execArgv ?? []),
    [entry.startInProgress ? 'start in progress' : '', entry.detail ?? ''].filter(Boolean).join('; '),
  ]);
  process.stdout.write(`runtime root: ${root}\n${formatTable(header, rows)}`);
  return 0;
}
