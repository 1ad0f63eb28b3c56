/**
 * One connect attempt of `scope: 'cluster'`: the SAME client statechart
 * (machines/client.machine.ts) as ./starter.ts, with the effects on the etcd registry instead
 * of the runtime files, so that its diagram is true for both.
 *
 * | effect                  | local (./starter.ts)         | cluster (here)                                   |
 * | ----------------------- | ---------------------------- | ------------------------------------------------ |
 * | readMetadata, recheck   | metadata.json                | `registry.discover()`: the current record         |
 * | acquireLock/releaseLock | the spawn lock               | `registry.acquireStartRight()` / its `release()`  |
 * | cleanStale              | stale files                  | nothing: records live under leases               |
 * | awaitExit, replaceDaemon| the process exits            | the record goes (the registry's watch)            |
 * | spawnDaemon, awaitReady | a daemon on this machine     | the same, with the cluster settings in its config |
 * | connect                 | token file, pid check        | the key derived from the secret; judged by its record |
 *
 * The registry is opened for one attempt and closed after it: a client holds no etcd
 * connection between starts, so a process that used the singleton still exits on its own.
 */
import { fromPromise } from 'xstate';
import { clientMachine } from '../../machines/client.machine.js';
import { publish } from '../diagnostics.js';
import { advertisedHost } from '../net/advertised.js';
import { checkTlsMaterial } from '../net/tls-material.js';
import { parseRegistryEndpoints } from '../registry/endpoints.js';
import { openEtcdRegistry } from '../registry/etcd.js';
import { COLD_REQUEST_TIMEOUT_MS } from '../registry/etcd-client.js';
import type { HeldLock } from '../runtime/lock.js';
import { clusterKey } from '../wire/auth.js';
import type { Connection } from './connection.js';
import { clusterOf, connectCluster, discoverMetadata, isInstance, recordChange } from './cluster-reach.js';
import type { ClusterAttempt, StartPlan } from './plan.js';
import { awaitLaunch, daemonConfig, runAttempt, spawnInTurn, type StartOptions, startDeadline } from './starter.js';

/** The client statechart with the cluster's effects, provided once per process. */
const clusterMachine = clientMachine.provide({
  actors: {
    readMetadata: fromPromise(({ input: attempt, signal }) => discoverMetadata(attempt, signal)),
    connect: fromPromise(({ input: { attempt, metadata }, signal }) => connectCluster(attempt, metadata, signal)),
    acquireLock: fromPromise(async ({ input: { attempt, metadata: stale }, signal }) => {
      // Gives up waiting when a record other than the one just found unusable is current.
      const cluster = clusterOf(attempt);
      const right = await cluster.registry.acquireStartRight(stale?.instanceId, signal);
      if (right === undefined) return { outcome: 'published' as const };
      const lock: HeldLock = {
        release: () => {
          const released = right.release();
          cluster.releases.add(released);
          return released;
        },
        get compromised() {
          return right.lost;
        },
      };
      return { outcome: 'acquired' as const, lock };
    }),
    recheck: fromPromise(async ({ input: attempt, signal }) => {
      const read = await discoverMetadata(attempt, signal);
      if (read.status === 'valid') return { connection: await connectCluster(attempt, read.metadata, signal) };
      return { reason: read.status === 'absent' ? 'no daemon recorded in etcd' : `the record in etcd is malformed (${read.reason}); it goes when its lease expires` };
    }),
    // Not reached in the cluster (no record says it is draining): a record's end is what counts.
    awaitExit: fromPromise(async ({ input: attempt, signal }) => {
      const read = await discoverMetadata(attempt, signal);
      if (read.status === 'valid') await recordChange(clusterOf(attempt), isInstance(read.metadata.instanceId), signal);
    }),
    // Nothing to remove: a dead daemon's record goes with its lease.
    cleanStale: fromPromise(async ({ input: { metadata } }) => ({ deadFound: metadata !== undefined })),
    replaceDaemon: fromPromise(async ({ input: attempt, signal }) => {
      const read = await discoverMetadata(attempt, signal);
      if (read.status !== 'valid') return;
      const connection = await connectCluster(attempt, read.metadata, signal, false);
      try {
        await connection.shutdown(false);
      } finally {
        connection.close();
      }
      // It unpublishes as it exits, after answering what it accepted.
      await recordChange(clusterOf(attempt), isInstance(read.metadata.instanceId), signal);
      publish('client', 'replaced', () => ({ name: attempt.plan.name, pid: read.metadata.pid }));
    }),
    spawnDaemon: fromPromise(({ input: { attempt, reason } }) => {
      const { endpoints, key, tls } = clusterOf(attempt);
      const { host, leaseTtlSeconds } = attempt.plan.options.cluster!;
      // It listens on `host` and publishes where the other machines reach it.
      const cluster = { registry: endpoints, key, host: advertisedHost(host), leaseTtlSeconds };
      return spawnInTurn(attempt, (budgetMs) => ({ ...daemonConfig(attempt.plan, reason, budgetMs), host, tls, cluster }));
    }),
    awaitReady: fromPromise(({ input: { attempt, launch }, signal }) => awaitLaunch(attempt, launch, signal)),
  },
  actions: {
    releaseLock: (_, { lock }) => {
      void lock?.release();
    },
  },
});

/**
 * How long one etcd request of an attempt may take: at most half of `startTimeoutMs`, so that
 * an etcd that does not answer ends the attempt with `ERR_REGISTRY_UNAVAILABLE`, saying so,
 * before the attempt's own deadline would end it with a timeout that names no cause.
 */
function requestTimeout(plan: StartPlan): number {
  return Math.max(1, Math.min(COLD_REQUEST_TIMEOUT_MS, Math.floor(plan.options.startTimeoutMs / 2)));
}

/**
 * Opens the registry of the plan's name (loading etcd3) and derives the handshake key: what an
 * attempt of `scope: 'cluster'` works with. Close `registry` when done.
 * @throws {TypeError} for a registry endpoint list that does not parse, or `tls` PEM that does not (or a key not its certificate's).
 * @throws {LoopbackSingletonError} when etcd3 is not installed (it says what to install).
 */
export async function openCluster(plan: StartPlan): Promise<ClusterAttempt> {
  const cluster = plan.options.cluster;
  if (cluster === undefined) throw new TypeError("The cluster starter needs { scope: 'cluster' }");
  const endpoints = parseRegistryEndpoints(cluster.registry);
  const tls = cluster.tls === undefined ? undefined : checkTlsMaterial(cluster.tls);
  const registry = await openEtcdRegistry({ endpoints, name: plan.name, leaseTtlSeconds: cluster.leaseTtlSeconds, requestTimeoutMs: requestTimeout(plan) });
  return { registry, endpoints, key: clusterKey(cluster.secret, plan.name), releases: new Set(), tls };
}

/**
 * Runs the client statechart once in `scope: 'cluster'`: resolves with a connection to the
 * daemon the cluster records, starting one on this machine if there is none.
 * @throws {FactoryError} | {FactoryMismatchError} | {HandshakeError} | {ConnectionFailedError};
 *   {RegistryError} (`ERR_REGISTRY_UNAVAILABLE`, a `ConnectionFailedError`) when etcd does not answer.
 */
export async function connectOrStartCluster(plan: StartPlan, options: StartOptions = {}): Promise<Connection> {
  const deadline = options.deadline ?? startDeadline(plan.options);
  const cluster = await openCluster(plan);
  try {
    return await runAttempt(clusterMachine, { plan, deadline, standby: undefined, cluster }, options.restart === true);
  } finally {
    // The start right is given up (its key deleted) before the connection to etcd closes.
    await Promise.all(cluster.releases);
    await cluster.registry.close();
  }
}
