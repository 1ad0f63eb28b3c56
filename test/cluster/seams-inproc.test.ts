/**
 * The cluster client and daemon in this process on a real etcd cluster, with the registry
 * (src/registry/etcd.ts) wrapped so that a test can see every registry opened and closed, and
 * make one step of it misbehave: a shutdown()'s registry closed when it ends, a watch that
 * cannot be opened while shutdown() waits (ERR_REGISTRY_UNAVAILABLE, not a verdict on the
 * daemon), a replace whose old daemon went just before it, a daemon not yet published that
 * writes nothing (its fence), a daemon's exit that waits for its release
 * (src/daemon/cluster-place.ts) when etcd answers and at most 2 s when it does not, a daemon
 * that never got its place, and the reasons
 * a start's recheck gives, as its timeout error tells them (src/client/cluster-starter.ts; the
 * daemon process spawned then is muted, so that the start times out waiting for it).
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { Connection } from '../../src/client/connection.js';
import { ConnectionFailedError, RegistryError } from '../../src/errors.js';
import type { EtcdRegistry, EtcdRegistryOptions } from '../../src/registry/etcd.js';
import { registryUnavailable } from '../../src/registry/unavailable.js';
import { clusterKey } from '../../src/wire/auth.js';
import { ETCD_MISSING } from '../support/etcd-cluster.js';
import { daemons, spawned } from '../support/in-process.js';
import { deferred } from '../support/machines.js';
import { freePort } from '../support/stale.js';
import { clusterService, electionKeys, inProcessClusterWorld, rejection, SECRET } from './inproc.js';
import { record, uniqueName } from './support.js';

vi.mock('../../src/client/daemon-process.js', async (load) => {
  const { spawnInProcess } = await import('../support/in-process.js');
  return {
    ...(await load<typeof import('../../src/client/daemon-process.js')>()),
    spawnDaemonProcess: (plan: import('../../src/client/daemon-process.js').DaemonProcessPlan) => {
      const child = spawnInProcess(plan);
      // A daemon process that takes its config and never gets as far as reporting (a hung start).
      if (seams.mute)
        child.send = ((_message: unknown, callback?: (error: Error | null) => void) => {
          queueMicrotask(() => callback?.(null));
          return true;
        }) as typeof child.send;
      return child;
    },
  };
});

/** Every registry opened in this file, and how a test changes one as it opens. */
const seams = vi.hoisted(() => ({
  opened: [] as { name: string; role: 'client' | 'daemon'; registry: unknown; closes: number }[],
  /** Called with each registry opened (a client's: with a request timeout; a daemon's: without). */
  tweak: undefined as ((registry: unknown, role: 'client' | 'daemon', name: string) => void) | undefined,
  /** Daemon processes spawned now never start (see the spawn's mock). */
  mute: false,
}));

vi.mock('../../src/registry/etcd.js', async (load) => {
  const etcd = await load<typeof import('../../src/registry/etcd.js')>();
  const openEtcdRegistry = async (options: EtcdRegistryOptions): Promise<EtcdRegistry> => {
    const registry = await etcd.openEtcdRegistry(options);
    // A daemon's place (src/daemon/cluster-place.ts) opens its registry without a request timeout.
    const role = options.requestTimeoutMs === undefined ? 'daemon' : 'client';
    const entry = { name: options.name, role, registry, closes: 0 } as (typeof seams.opened)[number];
    const close = registry.close.bind(registry);
    registry.close = () => {
      entry.closes += 1;
      return close();
    };
    seams.opened.push(entry);
    seams.tweak?.(registry, role, options.name);
    return registry;
  };
  return { ...etcd, openEtcdRegistry };
});

/** The registries a client opened for `name` (the test's own are opened with a request timeout too: none here). */
function clientRegistries(name: string) {
  return seams.opened.filter((entry) => entry.name === name && entry.role === 'client');
}

describe.skipIf(ETCD_MISSING !== undefined)(`the cluster client and daemon with a wrapped registry${ETCD_MISSING ? ` (${ETCD_MISSING})` : ''}`, () => {
  const world = inProcessClusterWorld('lbs-cluster-seams-');

  it('every registry a start and a shutdown() open is closed by the time they end', async () => {
    const name = uniqueName('closed');
    const svc = clusterService(world.root, world.cluster.registry, name);
    const proxy = await svc.proxy();
    expect(await proxy.inc()).toBe(1);
    const started = clientRegistries(name);
    expect(started).toHaveLength(1);
    expect(started[0]!.closes).toBe(1);
    await proxy[Symbol.asyncDispose]();

    const [child] = daemons();
    await svc.shutdown();
    const both = clientRegistries(name);
    expect(both).toHaveLength(2);
    expect(both.map((entry) => entry.closes)).toEqual([1, 1]);
    expect(await child!.outcome).toBe('stopped');
    expect(await electionKeys(world.etcd, name)).toEqual([]);
  });

  it('etcd failing while shutdown() waits for the record to go: ERR_REGISTRY_UNAVAILABLE, not a verdict on the daemon', async () => {
    const name = uniqueName('watchless');
    const lease = world.etcd.lease(30);
    try {
      // A daemon that does not answer (nothing listens at its port), its record held by the test's lease.
      await lease.put(`loopback-singleton/election/${name}/daemon/1`).value(JSON.stringify(record('127.0.0.1', await freePort())));
      const failure = registryUnavailable('etcd://stand-in:2379', `watching the record of "${name}"`, new Error('14 UNAVAILABLE: no connection'));
      seams.tweak = (registry, role, tweaked) => {
        if (role === 'client' && tweaked === name) (registry as EtcdRegistry).watch = () => Promise.reject(failure);
      };
      const error = await rejection(clusterService(world.root, world.cluster.registry, name, { drainTimeoutMs: 0 }).shutdown());
      expect(error).toBe(failure);
      expect(error).toBeInstanceOf(RegistryError);
      expect(error.code).toBe('ERR_REGISTRY_UNAVAILABLE');
      expect(clientRegistries(name).map((entry) => entry.closes)).toEqual([1]);
    } finally {
      seams.tweak = undefined;
      await lease.revoke();
    }
  });

  it('a replace whose old daemon went between the mismatch and the replace: nothing to ask, a daemon of the new factory is started', async () => {
    const name = uniqueName('gone-before-replace');
    const first = await clusterService(world.root, world.cluster.registry, name, { args: [0], idleTtlMs: 60_000 }).proxy();
    expect(await first.inc()).toBe(1);
    await first[Symbol.asyncDispose]();
    const [old] = daemons();
    // Under the start right, the recheck reads the record (and finds the mismatch again); the
    // replace reads it next: the old daemon is stopped, its record gone, just before that read.
    const reads: string[] = [];
    seams.tweak = (registry, role, tweaked) => {
      if (role !== 'client' || tweaked !== name) return;
      const opened = registry as EtcdRegistry;
      const acquire = opened.acquireStartRight.bind(opened);
      const discover = opened.discover.bind(opened);
      let locked = false;
      let count = 0;
      opened.acquireStartRight = async (...args) => {
        const right = await acquire(...args);
        locked = right !== undefined;
        return right;
      };
      opened.discover = async (...args) => {
        if (locked && ++count === 2) {
          old!.daemon!.shutdownRequested(false);
          await old!.outcome;
        }
        const read = await discover(...args);
        if (locked) reads.push(read.status);
        return read;
      };
    };
    const replaced: unknown[] = [];
    const onReplaced = (message: unknown) => replaced.push(message);
    subscribe('loopback-singleton:client:replaced', onReplaced);
    try {
      const second = await clusterService(world.root, world.cluster.registry, name, { args: [100], onMismatch: 'replace' }).proxy();
      expect(await second.inc()).toBe(101);
      expect(reads).toEqual(['valid', 'absent']);
      expect(replaced).toEqual([]);
      expect(spawned).toHaveLength(2);
      expect(daemons()[1]!.config?.startReason).toBe('replace');
      await second[Symbol.asyncDispose]();
    } finally {
      seams.tweak = undefined;
      unsubscribe('loopback-singleton:client:replaced', onReplaced);
    }
  });

  it('a daemon not yet published writes nothing: a client that found its port before its record gets no answer to its hello', async () => {
    const name = uniqueName('unpublished');
    const tried: string[] = [];
    seams.tweak = (registry, role, tweaked) => {
      if (role !== 'daemon' || tweaked !== name) return;
      const opened = registry as EtcdRegistry;
      const publish = opened.publish.bind(opened);
      opened.publish = async (published, signal) => {
        // Listening, not yet published: a client that knew the port says hello.
        const early = Connection.open(
          { transport: 'tcp', host: '127.0.0.1', port: published.port },
          { token: clusterKey(Buffer.from(SECRET), name), maxFrameBytes: 1024 * 1024, timeoutMs: 1000, name },
        );
        tried.push(
          await early.then(
            (connection) => {
              connection.close();
              return 'answered';
            },
            (error: unknown) => `${String((error as { code?: unknown }).code)}: ${(error as Error).message}`,
          ),
        );
        return publish(published, signal);
      };
    };
    try {
      const proxy = await clusterService(world.root, world.cluster.registry, name).proxy();
      expect(await proxy.inc()).toBe(1);
      // Its challenge was fenced (nothing is written before the place is held): the hello timed out.
      expect(tried).toEqual([expect.stringMatching(/^ERR_CONNECTION_FAILED: No handshake with the daemon at 127\.0\.0\.1:\d+ within 1000 ms \(challenge\)$/)]);
      await proxy[Symbol.asyncDispose]();
    } finally {
      seams.tweak = undefined;
    }
  });

  it("a daemon's exit waits for its release when etcd answers: its record is gone and its registry closed when it ends", async () => {
    const name = uniqueName('released');
    const steps: string[] = [];
    seams.tweak = (registry, role, tweaked) => {
      if (role !== 'daemon' || tweaked !== name) return;
      const opened = registry as EtcdRegistry;
      const publish = opened.publish.bind(opened);
      opened.publish = async (...args) => {
        const publication = await publish(...args);
        const unpublish = publication.unpublish.bind(publication);
        (publication as { unpublish: () => Promise<void> }).unpublish = async () => {
          steps.push('unpublish');
          await unpublish();
          steps.push('unpublished');
        };
        return publication;
      };
    };
    try {
      const svc = clusterService(world.root, world.cluster.registry, name);
      const proxy = await svc.proxy();
      expect(await proxy.inc()).toBe(1);
      await proxy[Symbol.asyncDispose]();
      const [child] = daemons();
      child!.daemon!.shutdownRequested(false);
      expect(await child!.outcome).toBe('stopped');
      expect(steps).toEqual(['unpublish', 'unpublished']);
      expect(seams.opened.filter((entry) => entry.name === name && entry.role === 'daemon').map((entry) => entry.closes)).toEqual([1]);
      expect(await electionKeys(world.etcd, name)).toEqual([]);
    } finally {
      seams.tweak = undefined;
    }
  });

  it('a daemon that never got its place (a malformed record holds it) ends at its boot deadline, having published nothing', async () => {
    const name = uniqueName('placeless');
    const lease = world.etcd.lease(30);
    try {
      await lease.put(`loopback-singleton/election/${name}/daemon/1`).value('{"not":"a record"}');
      const error = await rejection(clusterService(world.root, world.cluster.registry, name, { startTimeoutMs: 2000 }).ensureStarted());
      expect(error.message).toBe('The daemon did not finish publishing its metadata within its boot timeout');
      const [child] = daemons();
      expect(await child!.outcome).toBe('failed');
      expect(await electionKeys(world.etcd, name)).toEqual(['daemon/1']);
      expect(seams.opened.filter((entry) => entry.name === name && entry.role === 'daemon').map((entry) => entry.closes)).toEqual([1]);
    } finally {
      await lease.revoke();
    }
  });

  it('a daemon whose unpublish etcd does not answer: its exit waits for it at most 2 s, and the record goes once etcd answers', async () => {
    const name = uniqueName('unreleased');
    const answer = deferred();
    const asked: string[] = [];
    seams.tweak = (registry, role, tweaked) => {
      if (role !== 'daemon' || tweaked !== name) return;
      const opened = registry as EtcdRegistry;
      const publish = opened.publish.bind(opened);
      opened.publish = async (...args) => {
        const publication = await publish(...args);
        const unpublish = publication.unpublish.bind(publication);
        (publication as { unpublish: () => Promise<void> }).unpublish = () => {
          asked.push('unpublish');
          return answer.promise.then(unpublish);
        };
        return publication;
      };
    };
    try {
      const svc = clusterService(world.root, world.cluster.registry, name);
      const proxy = await svc.proxy();
      expect(await proxy.inc()).toBe(1);
      await proxy[Symbol.asyncDispose]();
      const [child] = daemons();
      child!.daemon!.shutdownRequested(false);
      // It ends although its release is still waiting for etcd: the record is still there.
      expect(await child!.outcome).toBe('stopped');
      expect(asked).toEqual(['unpublish']);
      expect(await electionKeys(world.etcd, name)).toEqual([expect.stringMatching(/^daemon\//)]);
      answer.resolve();
      await vi.waitFor(async () => expect(await electionKeys(world.etcd, name)).toEqual([]), { timeout: 10_000 });
    } finally {
      seams.tweak = undefined;
      answer.resolve();
    }
  });

  it('the recheck under the start right found no record: the timeout error says so in what it tried', async () => {
    const name = uniqueName('unplaced');
    seams.mute = true;
    try {
      const error = await rejection(clusterService(world.root, world.cluster.registry, name, { startTimeoutMs: 4000 }).ensureStarted());
      expect(error).toBeInstanceOf(ConnectionFailedError);
      expect(error.message).toBe(
        `Could not start or reach the daemon "${name}" within 4000 ms (stuck in {"locked":"awaitingReady"}: the daemon it spawned (pid ${process.pid}) was still starting ` +
          '(creating the object: the factory had not returned, or binding its socket, or waiting for its place in etcd) and was killed; ' +
          `metadata: absent; under the lock: no daemon recorded in etcd). See ${join(world.root, name, 'daemon.log')}`,
      );
      expect(spawned).toHaveLength(1);
      expect(daemons()).toHaveLength(0);
    } finally {
      seams.mute = false;
    }
  });

  it('the recheck under the start right found a malformed record: the timeout error says so, and that its lease ends it', async () => {
    const name = uniqueName('malformed');
    const lease = world.etcd.lease(30);
    seams.mute = true;
    try {
      await lease.put(`loopback-singleton/election/${name}/daemon/1`).value('{"not":"a record"}');
      const error = await rejection(clusterService(world.root, world.cluster.registry, name, { startTimeoutMs: 4000 }).ensureStarted());
      expect(error).toBeInstanceOf(ConnectionFailedError);
      expect(error.message).toBe(
        `Could not start or reach the daemon "${name}" within 4000 ms (stuck in {"locked":"awaitingReady"}: the daemon it spawned (pid ${process.pid}) was still starting ` +
          '(creating the object: the factory had not returned, or binding its socket, or waiting for its place in etcd) and was killed; ' +
          'metadata: malformed (`instanceId` is missing); under the lock: the record in etcd is malformed (`instanceId` is missing); it goes when its lease expires). ' +
          `See ${join(world.root, name, 'daemon.log')}`,
      );
      expect(spawned).toHaveLength(1);
    } finally {
      seams.mute = false;
      await lease.revoke();
    }
  });
});
