/**
 * `shutdown()` in `scope: 'cluster'`: the daemon the cluster records is asked over the
 * protocol to drain (or to stop with force) wherever it runs, and the call resolves once its
 * record is gone. There is no process to signal across machines: a daemon that does not answer
 * is left to its lease.
 */
import { ConnectionFailedError, RegistryError } from '../errors.js';
import { connectCluster, discoverMetadata, isInstance, recordChange } from './cluster-reach.js';
import { openCluster } from './cluster-starter.js';
import type { StartPlan } from './plan.js';

/** What a shutdown waits beyond `drainTimeoutMs` for the record to go (as the local shutdown). */
const SHUTDOWN_SLACK_MS = 5000;

/**
 * Stops the cluster daemon of `plan`'s name; resolves at once when none is recorded.
 * @throws {ConnectionFailedError} `ERR_DAEMON_UNRESPONSIVE` when its record is still there
 *   `drainTimeoutMs` + 5 s later (or it could not be reached while its record stayed).
 * @throws {RegistryError} (`ERR_REGISTRY_UNAVAILABLE`) when etcd does not answer.
 */
export async function shutdownCluster(plan: StartPlan, force: boolean, signal?: AbortSignal): Promise<void> {
  const cluster = await openCluster(plan);
  const budget = plan.options.drainTimeoutMs + SHUTDOWN_SLACK_MS;
  const deadline = AbortSignal.timeout(budget);
  const bounded = signal === undefined ? deadline : AbortSignal.any([signal, deadline]);
  const attempt = { plan, deadline: performance.now() + budget, standby: undefined, cluster };
  try {
    const read = await discoverMetadata(attempt, bounded);
    if (read.status !== 'valid') return;
    const { instanceId, pid, host, port } = read.metadata;
    try {
      // Whatever factory it runs: the name is what shutdown() stops.
      const connection = await connectCluster(attempt, read.metadata, bounded, false);
      try {
        await connection.shutdown(force);
      } finally {
        connection.close();
      }
    } catch {
      // Gone meanwhile, or not answering: its record says which, below.
    }
    try {
      await recordChange(cluster, isInstance(instanceId), bounded);
    } catch (error) {
      signal?.throwIfAborted();
      // etcd stopped answering: whether the daemon went is not known.
      if (error instanceof RegistryError) throw error;
      throw new ConnectionFailedError(
        `The cluster daemon "${plan.name}" (${host}:${port}, pid ${pid}) still holds its place ${budget} ms after it was asked to ${force ? 'stop' : 'drain'}; ` +
          'it was left to its lease. See its daemon.log on its machine',
        { code: 'ERR_DAEMON_UNRESPONSIVE', cause: error },
      );
    }
  } finally {
    await cluster.registry.close();
  }
}
