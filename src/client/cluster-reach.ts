/**
 * Reaching a cluster daemon (`scope: 'cluster'`): its record read from etcd as the client
 * statechart's metadata, connecting to it with the key derived from the cluster secret, and
 * what a failed connect means there. There is no pid to look at across machines: a daemon is
 * judged by its record. While its record is current (its lease runs), a daemon that does not
 * answer is alive and waited for (`ERR_DAEMON_UNRESPONSIVE`); once the record is gone (a dead
 * daemon's lease expired) or another one is current, it is stale.
 */
import { ConnectionFailedError, LoopbackSingletonError } from '../errors.js';
import type { ClusterRecord } from '../registry/record.js';
import type { RecordRead } from '../registry/registry.js';
import { registryUnavailable } from '../registry/unavailable.js';
import { isTlsMismatch } from '../net/tls-mismatch.js';
import { isResourceFault, localFaultError } from '../runtime/local-fault.js';
import { sleep } from '../runtime/sleep.js';
import type { MetadataRead } from '../runtime/metadata.js';
import type { DaemonMetadata } from '../types.js';
import type { Connection } from './connection.js';
import type { ClusterAttempt, StartAttempt } from './plan.js';
import { openChecked } from './reach.js';
import { ANSWERED_CODES } from './unresponsive.js';

/** How often a wait for a record to change looks again, besides the watch. */
const RECORD_POLL_MS = 100;

/** The attempt's cluster part; an attempt of the cluster starter always has one. */
export function clusterOf(attempt: StartAttempt): ClusterAttempt {
  if (attempt.cluster === undefined) throw new LoopbackSingletonError('A cluster attempt without its registry (a bug)');
  return attempt.cluster;
}

/** A cluster record as the client statechart's metadata: a tcp daemon at its published host and port. */
export function recordMetadata(record: ClusterRecord): DaemonMetadata {
  const { pid, instanceId, host, port, protocolVersion, packageVersion, factoryId, startedAt } = record;
  return { pid, instanceId, transport: 'tcp', host, port, protocolVersion, packageVersion, factoryId, startedAt };
}

/** Where a record says its daemon is, for messages. */
function where(metadata: DaemonMetadata, record?: ClusterRecord): string {
  return `${metadata.host}:${metadata.port}, pid ${metadata.pid}${record ? ` on ${record.machine}` : ''}`;
}

/**
 * The current record, as the client statechart reads metadata.
 * @throws {RegistryError} (`ERR_REGISTRY_UNAVAILABLE`) when etcd cannot be read: evidence of nothing, the attempt ends.
 */
export async function discoverMetadata(attempt: StartAttempt, signal?: AbortSignal): Promise<Exclude<MetadataRead, { status: 'unreadable' }>> {
  const { registry } = clusterOf(attempt);
  const read = await registry.discover(signal);
  switch (read.status) {
    case 'valid':
      return { status: 'valid', metadata: recordMetadata(read.record) };
    case 'unreadable':
      throw registryUnavailable(registry.where, `reading the record of "${attempt.plan.name}"`, read.error);
    default:
      return read;
  }
}

/**
 * Connects to the cluster daemon `metadata` names and makes sure it runs our factory (unless
 * `checkFactory` is false).
 * @throws {ConnectionFailedError} `ERR_DAEMON_UNRESPONSIVE` when the handshake failed while its
 *   record is still current; the connect's own error when the record went (stale).
 */
export function connectCluster(attempt: StartAttempt, metadata: DaemonMetadata, signal?: AbortSignal, checkFactory = true): Promise<Connection> {
  const { key, tls } = clusterOf(attempt);
  return openChecked(attempt.plan, metadata, key, signal, checkFactory, (error) => judgeUnanswered(attempt, metadata, error, signal), tls);
}

/** What a failed connect to the daemon of `metadata` means: judged by its record (see the header). */
async function judgeUnanswered(attempt: StartAttempt, metadata: DaemonMetadata, error: unknown, signal: AbortSignal | undefined): Promise<unknown> {
  if (signal?.aborted || ANSWERED_CODES.has(String((error as { code?: unknown })?.code))) return error;
  if (isResourceFault(error)) return localFaultError(`open a connection to the cluster daemon "${attempt.plan.name}" at ${metadata.host}:${metadata.port}`, error);
  const read = await clusterOf(attempt).registry.discover(signal);
  if (read.status !== 'valid' || read.record.instanceId !== metadata.instanceId) return error;
  if (isTlsMismatch(error)) {
    // Certificates that do not fit (another CA, not issued for the address, one side without
    // TLS) at the address etcd still records: no retry fixes that, and the daemon is not stale
    // for it (a final error). At an address etcd no longer records, it is what a stale record's
    // port now holds: judged stale, like any other failed connect there.
    return new LoopbackSingletonError(
      `Could not reach the cluster daemon "${attempt.plan.name}" at ${metadata.host}:${metadata.port} over TLS: ${(error as Error)?.message ?? String(error)}`,
      { cause: error },
    );
  }
  if ((error as { code?: unknown })?.code === 'ERR_AUTH_FAILED') {
    // The daemon etcd records could not prove the key: no retry fixes that (a final error).
    return new LoopbackSingletonError(
      `The cluster daemon "${attempt.plan.name}" (${where(metadata, read.record)}) could not prove it holds the key derived from the cluster secret: ` +
        'the machines were given different secrets (or something else listens there). Give every machine the same `secret` (or LOOPBACK_SINGLETON_SECRET)',
      { cause: error },
    );
  }
  return new ConnectionFailedError(
    `The cluster daemon "${attempt.plan.name}" (${where(metadata, read.record)}) holds its place in etcd but did not complete a handshake: ` +
      `${(error as Error)?.message ?? String(error)}; it is waited for until it answers or its lease (${attempt.plan.options.cluster?.leaseTtlSeconds} s) runs out`,
    { code: 'ERR_DAEMON_UNRESPONSIVE', cause: error },
  );
}

/**
 * Resolves once the current record is not one that `keep` accepts (none, or another daemon's),
 * as the registry's watch tells it, and looks again every {@link RECORD_POLL_MS} besides.
 * @throws the signal's reason when it aborts first.
 */
export async function recordChange(cluster: ClusterAttempt, keep: (read: RecordRead<ClusterRecord>) => boolean, signal: AbortSignal): Promise<void> {
  let changed!: () => void;
  const done = new Promise<void>((resolve) => {
    changed = resolve;
  });
  const watch = await cluster.registry.watch((read) => {
    // A read that failed says nothing either way.
    if (read.status !== 'unreadable' && !keep(read)) changed();
  });
  try {
    while (!signal.aborted) {
      const outcome = await Promise.race([done.then(() => 'changed' as const), sleep(RECORD_POLL_MS).then(() => 'poll' as const)]);
      if (outcome === 'changed') return;
      const read = await cluster.registry.discover(signal);
      if (read.status !== 'unreadable' && !keep(read)) return;
    }
    signal.throwIfAborted();
  } finally {
    await watch.close();
  }
}

/** A keep-function for {@link recordChange}: the record of instance `instanceId` is still current. */
export function isInstance(instanceId: string): (read: RecordRead<ClusterRecord>) => boolean {
  return (read) => read.status === 'valid' && read.record.instanceId === instanceId;
}
