import { describe, expect, it, vi } from 'vitest';
import { ConnectionFailedError, DaemonConnectionError, RegistryError } from '../../src/errors.js';
import { openGate } from '../fixtures/services.mjs';
import { ETCD_MISSING } from '../support/etcd-cluster.js';
import { daemons, spawned } from '../support/in-process.js';
import { clusterService, electionKeys, rejection, inProcessClusterWorld, publishUnanswered } from './inproc.js';
import { freePort } from '../support/stale.js';
import { openRegistry, record, uniqueName } from './support.js';

vi.mock('../../src/client/daemon-process.js', async (load) => ({
  ...(await load<typeof import('../../src/client/daemon-process.js')>()),
  spawnDaemonProcess: (await import('../support/in-process.js')).spawnInProcess,
}));

type Gated = { gated<T>(gate: string, tag: T): Promise<T>; inc(): Promise<number> };

describe.skipIf(ETCD_MISSING !== undefined)(`shutdown() of a cluster daemon in this process${ETCD_MISSING ? ` (${ETCD_MISSING})` : ''}`, () => {
  const world = inProcessClusterWorld('lbs-cluster-stop-');

  it('nothing recorded: resolves at once, starts nothing', async () => {
    const name = uniqueName('none');
    await expect(clusterService(world.root, world.cluster.registry, name).shutdown()).resolves.toBeUndefined();
    expect(spawned).toHaveLength(0);
    expect(await electionKeys(world.etcd, name)).toEqual([]);
  });

  it('graceful: the daemon answers the call it accepted, exits, and its record goes before shutdown() resolves', async () => {
    const name = uniqueName('drain');
    const svc = clusterService<Gated>(world.root, world.cluster.registry, name);
    const proxy = await svc.proxy();
    expect(await proxy.inc()).toBe(1);
    const [child] = daemons();
    const gate = `${name}-gate`;
    const inFlight = proxy.gated(gate, 'answered');
    await vi.waitFor(() => expect(child!.daemon!.info().queued + child!.daemon!.info().active).toBeGreaterThan(0));
    expect(child!.daemon!.info().active).toBe(1);
    const stopping = svc.shutdown();
    await vi.waitFor(() => expect(JSON.stringify(child!.daemon!.info().state)).toContain('draining'));
    // shutdown() closed the connection it asked on: the proxy's is the only one left while it drains.
    await vi.waitFor(() => expect(child!.daemon!.info().active).toBe(1), { timeout: 5000 });
    openGate(gate);
    expect(await inFlight).toBe('answered');
    await stopping;
    expect(await electionKeys(world.etcd, name)).toEqual([]);
    expect(await child!.outcome).toBe('stopped');
    await proxy[Symbol.asyncDispose]();
  });

  it('force: the daemon stops without answering the call in flight, and its record goes', async () => {
    const name = uniqueName('force');
    const svc = clusterService<Gated>(world.root, world.cluster.registry, name);
    const proxy = await svc.proxy();
    expect(await proxy.inc()).toBe(1);
    const [child] = daemons();
    // A gate never opened: only a forced stop ends this call.
    const inFlight = proxy.gated(`${name}-never`, 'answered').catch((error: unknown) => error);
    await svc.shutdown({ force: true });
    expect(await electionKeys(world.etcd, name)).toEqual([]);
    const lost = await inFlight;
    expect(lost).toBeInstanceOf(DaemonConnectionError);
    expect((lost as DaemonConnectionError).code).toBe('ERR_DAEMON_LOST');
    expect(await child!.outcome).toBe('stopped');
    await proxy[Symbol.asyncDispose]();
  });

  it('a daemon of another factory (other args) is stopped all the same: the name is what shutdown() stops', async () => {
    const name = uniqueName('other-factory');
    const proxy = await clusterService(world.root, world.cluster.registry, name, { args: [0] }).proxy();
    expect(await proxy.inc()).toBe(1);
    await proxy[Symbol.asyncDispose]();
    const [child] = daemons();
    // A budget of 5 s for its record to go, had it not been asked.
    await clusterService(world.root, world.cluster.registry, name, { args: [100], drainTimeoutMs: 0 }).shutdown();
    expect(await child!.outcome).toBe('stopped');
    expect(await electionKeys(world.etcd, name)).toEqual([]);
    expect(spawned).toHaveLength(1);
  });

  it('a record whose daemon never answers: asked to drain or to stop, it is left to its lease (ERR_DAEMON_UNRESPONSIVE), its record kept', async () => {
    const name = uniqueName('silent');
    const { registry, port, published: silent } = await publishUnanswered(world.cluster.registry, name);
    const svc = clusterService(world.root, world.cluster.registry, name, { drainTimeoutMs: 0 });
    const [drain, stop] = await Promise.all([rejection(svc.shutdown()), rejection(svc.shutdown({ force: true }))]);
    for (const [error, asked] of [
      [drain, 'drain'],
      [stop, 'stop'],
    ] as const) {
      expect(error).toBeInstanceOf(ConnectionFailedError);
      expect(error.code).toBe('ERR_DAEMON_UNRESPONSIVE');
      expect(error.message).toBe(
        `The cluster daemon "${name}" (127.0.0.1:${port}, pid ${process.pid}) still holds its place 5000 ms after it was asked to ${asked}; ` +
          'it was left to its lease. See its daemon.log on its machine',
      );
    }
    const read = await registry.discover();
    expect(read.status === 'valid' && read.record.instanceId).toBe(silent.instanceId);
    expect(spawned).toHaveLength(0);
  });

  it("the caller's abort ends the wait with its reason, not a verdict on the daemon", async () => {
    const name = uniqueName('abort');
    const registry = await openRegistry(world.cluster.registry, name);
    await registry.publish(record('127.0.0.1', await freePort()));
    const controller = new AbortController();
    const reason = new Error('the caller gave up');
    // Its own budget (drainTimeoutMs + 5 s) outlasts the test: only the caller's signal ends the wait.
    const stopping = rejection(clusterService(world.root, world.cluster.registry, name, { drainTimeoutMs: 120_000 }).shutdown({ signal: controller.signal }));
    setTimeout(() => controller.abort(reason), 300).unref();
    expect(await stopping).toBe(reason);
    expect(await electionKeys(world.etcd, name)).toEqual([expect.stringMatching(/^daemon\//)]);
  });

  it('an etcd that does not answer: ERR_REGISTRY_UNAVAILABLE naming it', async () => {
    const name = uniqueName('noetcd');
    const error = await rejection(clusterService(world.root, 'etcd://127.0.0.1:1', name, { startTimeoutMs: 600 }).shutdown());
    expect(error).toBeInstanceOf(RegistryError);
    expect(error.code).toBe('ERR_REGISTRY_UNAVAILABLE');
    expect(error.message).toMatch(new RegExp(`^etcd at etcd://127\\.0\\.0\\.1:1 did not answer reading the record of "${name}": `));
  });
});
