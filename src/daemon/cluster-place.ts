/**
 * A cluster daemon's place (`scope: 'cluster'`): its record published in etcd, under a lease
 * it keeps alive, in metadata.json's stead. The etcd registry (and etcd3 under it) is loaded
 * here, on publishing, and only by a cluster daemon.
 *
 * Once published, the place is the daemon's only while {@link Publication.isHeld}: the daemon
 * fences every batch of frames it writes with it (../wire/writer.ts), and on its loss drains
 * at once (./daemon.ts), so that a daemon paused or cut off past its lease never answers after
 * another took over.
 */
import { hostname } from 'node:os';
import type { ClusterRecord } from '../registry/record.js';
import type { Loss, Publication } from '../registry/registry.js';
import type { DaemonClusterConfig } from '../runtime/daemon-config.js';
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '../version.js';
import { provideFencing } from './fencing.js';

/** A daemon's published place, until {@link ClusterPlace.close}. */
export interface ClusterPlace {
  readonly publication: Publication<ClusterRecord>;
  /** Unpublishes and closes the connection to etcd; idempotent, never throws. */
  close(): Promise<void>;
}

/** What a cluster daemon publishes about itself. */
export interface PlaceRequest {
  readonly name: string;
  readonly cluster: DaemonClusterConfig;
  readonly instanceId: string;
  readonly port: number;
  readonly factoryId: string;
  readonly startedAt: number;
}

/** The record a daemon publishes: where the other machines reach it, and who it is. */
export function clusterRecord(request: PlaceRequest): ClusterRecord {
  return {
    instanceId: request.instanceId,
    host: request.cluster.host,
    port: request.port,
    factoryId: request.factoryId,
    protocolVersion: PROTOCOL_VERSION,
    packageVersion: PACKAGE_VERSION,
    pid: process.pid,
    machine: hostname(),
    startedAt: request.startedAt,
  };
}

/**
 * Publishes the daemon's record and resolves once it is the current one: the place was free,
 * or the daemon before it let go of it (unpublished, or its lease expired). `signal` (the boot
 * budget) bounds the wait; nothing stays published when it aborts.
 */
export async function takeClusterPlace(request: PlaceRequest, signal: AbortSignal): Promise<ClusterPlace> {
  const { openEtcdRegistry } = await import('../registry/etcd.js');
  const registry = await openEtcdRegistry({ endpoints: request.cluster.registry, name: request.name, leaseTtlSeconds: request.cluster.leaseTtlSeconds });
  let publication: Publication<ClusterRecord>;
  try {
    publication = await registry.publish(clusterRecord(request), signal);
  } catch (error) {
    await registry.close().catch(() => {});
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    publication,
    close: () => {
      closing ??= (async () => {
        await publication.unpublish().catch(() => {});
        await registry.close().catch(() => {});
      })();
      return closing;
    },
  };
}

/** A loss, for the daemon's log. */
export function describeLoss(loss: Loss): string {
  const why = { expired: 'no renewal came back before its local deadline', revoked: 'etcd said its lease is gone', superseded: 'its record went or another came first' }[
    loss.reason
  ];
  return `lost its place in the cluster registry (${loss.reason}: ${why})`;
}

/** The most a cluster daemon's exit waits for etcd to take its record off (its lease would, a TTL later). */
const RELEASE_WAIT_MS = 2000;

/**
 * A cluster daemon's presence in etcd over its life: publishing its place, the fence its
 * writes pass ({@link mayWrite}), and releasing the place as it ends.
 */
export class ClusterPresence {
  readonly #request: Omit<PlaceRequest, 'port'>;
  readonly #log: (line: string) => void;
  #place: ClusterPlace | undefined;
  #releasing: Promise<void> | undefined;

  constructor(request: Omit<PlaceRequest, 'port'>, log: (line: string) => void) {
    this.#request = request;
    this.#log = log;
  }

  /**
   * The fence of every batch of frames the daemon writes: its place is published and still
   * held. One compare of `performance.now()` with the lease's local deadline (../registry/lease-clock.ts).
   */
  readonly mayWrite = (): boolean => this.#place?.publication.isHeld() === true;

  /** Publishes the daemon listening on `port`, within `signal`; `onLost` is called once if the place is lost. */
  async publish(port: number, signal: AbortSignal, onLost: () => void): Promise<void> {
    const place = await takeClusterPlace({ ...this.#request, port }, signal);
    this.#place = place;
    const { publication } = place;
    // What hosted code's fencingToken() reads (loopback-singleton/daemon).
    provideFencing({ token: publication.fencingToken, isHeld: () => publication.isHeld() });
    publication.onLost((loss) => {
      this.#log(`${describeLoss(loss)}: answering nothing more, draining`);
      // Not inside the check that found it (a frame write): the drain closes those channels.
      queueMicrotask(onLost);
    });
    const { registry, host } = this.#request.cluster;
    this.#log(`published in etcd at ${registry.text} as ${host}:${port}, fencing token ${place.publication.fencingToken}`);
  }

  /** Starts giving the place up (unpublish, close etcd); idempotent. */
  release(): void {
    this.#releasing ??= this.#place?.close() ?? Promise.resolve();
  }

  /** Resolves once the release is done, or after {@link RELEASE_WAIT_MS}, as etcd may not answer. */
  released(): Promise<unknown> {
    return Promise.race([this.#releasing, new Promise((done) => setTimeout(done, RELEASE_WAIT_MS).unref())]);
  }
}
