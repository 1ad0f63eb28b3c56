/**
 * The cluster client (`scope: 'cluster'`: src/client/cluster-starter.ts, cluster-reach.ts) and
 * a cluster daemon's place (src/daemon/cluster-place.ts) in this process, against a real
 * 3-member etcd cluster and daemons served here (test/support/in-process.ts): a cold start,
 * a daemon reached from another "machine", a record whose daemon is gone, a place lost, a
 * registry that does not answer, a start right held elsewhere, another secret, another
 * protocol version (a daemon played by hand) and another factory (replaced by a graceful drain),
 * a record published while a start waits for the start right, and a supervised restart. The end-to-end files
 * (./cold-start.test.ts, ./failover.test.ts, ./mismatch.test.ts, ./fencing.test.ts) run the
 * same from dist/ as processes; this one lets a mutant be seen.
 * Stopping a daemon (src/client/cluster-terminate.ts) is ./terminate-inproc.test.ts.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { describeLoss } from '../../src/daemon/cluster-place.js';
import { fencingToken } from '../../src/daemon/fencing.js';
import { ConnectionFailedError, DaemonConnectionError, FactoryMismatchError, HandshakeError, LoopbackSingletonError, RegistryError } from '../../src/errors.js';
import { parseRegistryEndpoints } from '../../src/registry/endpoints.js';
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '../../src/version.js';
import { clusterKey, computeProof, createNonce } from '../../src/wire/auth.js';
import { decodeValue, encodeFrame, FrameDecoder, HANDSHAKE_MAX_FRAME_BYTES } from '../../src/wire/codec.js';
import { openGate } from '../fixtures/services.mjs';
import { ETCD_MISSING } from '../support/etcd-cluster.js';
import { daemons, makeRoot, removeRoot, spawned } from '../support/in-process.js';
import { clusterService, electionKeys, rejection, SECRET, inProcessClusterWorld, publishUnanswered } from './inproc.js';
import { openRegistry, record, uniqueName } from './support.js';

type Gated = { gated<T>(gate: string, tag: T): Promise<T>; inc(): Promise<number> };

vi.mock('../../src/client/daemon-process.js', async (load) => ({
  ...(await load<typeof import('../../src/client/daemon-process.js')>()),
  spawnDaemonProcess: (await import('../support/in-process.js')).spawnInProcess,
}));

/** A listener on 127.0.0.1 that runs `onConnection` for each connection, closed when the test ends. */
async function listener(onConnection: (socket: import('node:net').Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onConnection);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

describe('the cluster client in this process, without etcd', () => {
  it('a lost place is logged with its reason and what it means', () => {
    expect(describeLoss({ reason: 'expired', deadline: 1, at: 2 })).toBe(
      'lost its place in the cluster registry (expired: no renewal came back before its local deadline)',
    );
    expect(describeLoss({ reason: 'revoked', deadline: 1, at: 2 })).toBe('lost its place in the cluster registry (revoked: etcd said its lease is gone)');
    expect(describeLoss({ reason: 'superseded', deadline: 1, at: 2 })).toBe('lost its place in the cluster registry (superseded: its record went or another came first)');
  });
});

describe.skipIf(ETCD_MISSING !== undefined)(`the cluster client in this process, on a real etcd cluster${ETCD_MISSING ? ` (${ETCD_MISSING})` : ''}`, () => {
  const world = inProcessClusterWorld('lbs-cluster-inproc-');

  it('no daemon recorded: one is started here, publishes its record, and is reached from another machine', async () => {
    const name = uniqueName('cold');
    const svc = clusterService(world.root, world.cluster.registry, name, { args: [10] });
    const counter = await svc.proxy();
    expect(await counter.inc()).toBe(11);

    expect(spawned).toHaveLength(1);
    const [child] = daemons();
    const daemon = child!.daemon!;
    expect(child!.config).toMatchObject({
      name,
      startReason: 'first',
      transport: 'tcp',
      host: '127.0.0.1',
      tls: undefined,
      cluster: { registry: parseRegistryEndpoints(world.cluster.registry), host: '127.0.0.1', leaseTtlSeconds: 2 },
    });
    const info = await svc.ping();
    const port = Number(info.address.split(':')[1]);
    expect(info.address).toBe(`127.0.0.1:${port}`);

    // What etcd records: this daemon, where the other machines reach it; the start right is given up.
    const registry = await openRegistry(world.cluster.registry, name);
    const read = await registry.discover();
    expect(read).toEqual({
      status: 'valid',
      record: {
        instanceId: daemon.instanceId,
        host: '127.0.0.1',
        port,
        factoryId: child!.config!.factoryId,
        protocolVersion: PROTOCOL_VERSION,
        packageVersion: PACKAGE_VERSION,
        pid: process.pid,
        machine: hostname(),
        startedAt: daemon.startedAt,
      },
      fencingToken: expect.any(BigInt),
    });
    const token = read.status === 'valid' ? read.fencingToken : undefined;
    expect(fencingToken()).toBe(token);
    expect(await electionKeys(world.etcd, name)).toEqual([expect.stringMatching(/^daemon\/[0-9a-f]+$/)]);
    expect(readFileSync(join(world.root, name, 'daemon.log'), 'utf8')).toContain(
      `published in etcd at ${parseRegistryEndpoints(world.cluster.registry).text} as 127.0.0.1:${port}, fencing token ${token}`,
    );

    // Another machine (its own runtime dir and host) finds it: no second daemon, the same state.
    const elsewhere = makeRoot('lbs-cluster-inproc-');
    try {
      const other = clusterService(elsewhere, world.cluster.registry, name, { args: [10], host: '127.0.0.2' });
      const remote = await other.proxy();
      expect(await remote.inc()).toBe(12);
      expect((await other.ping()).pid).toBe(process.pid);
      await remote[Symbol.asyncDispose]();
    } finally {
      removeRoot(elsewhere);
    }
    expect(spawned).toHaveLength(1);
    expect(await counter.get()).toBe(12);
    await counter[Symbol.asyncDispose]();
  });

  it('a record whose daemon does not answer is waited for while it is current: ERR_DAEMON_UNRESPONSIVE, nothing started', async () => {
    const name = uniqueName('unanswered');
    const { registry, port, published: dead } = await publishUnanswered(world.cluster.registry, name);
    const error = await rejection(clusterService(world.root, world.cluster.registry, name, { startTimeoutMs: 1000 }).ensureStarted());
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect(error.code).toBe('ERR_DAEMON_UNRESPONSIVE');
    expect(error.message).toMatch(
      new RegExp(
        `^The cluster daemon "${name}" \\(127\\.0\\.0\\.1:${port}, pid ${process.pid} on 127\\.0\\.0\\.1\\) holds its place in etcd but did not complete a handshake: ` +
          `.*ECONNREFUSED.*; it is waited for until it answers or its lease \\(2 s\\) runs out; tried \\d+ time\\(s\\) within startTimeoutMs \\(1000 ms\\)\\. It was left running`,
      ),
    );
    expect(spawned).toHaveLength(0);
    // Its record stays; the start right was never taken.
    const read = await registry.discover();
    expect(read.status === 'valid' && read.record.instanceId).toBe(dead.instanceId);
    expect(await electionKeys(world.etcd, name)).toEqual([expect.stringMatching(/^daemon\//)]);
  });

  it('a record whose daemon is gone (it went while this client tried it) is stale: a daemon is started in its place', async () => {
    const name = uniqueName('stale');
    const registry = await openRegistry(world.cluster.registry, name);
    let unpublish: () => Promise<void> = async () => {};
    // The "gone" daemon's address: its record goes, then the connection drops, as a dead host's lease would run out.
    const { server, port } = await listener((socket) => {
      void unpublish().then(() => socket.destroy());
    });
    try {
      const stale = record('127.0.0.1', port);
      const publication = await registry.publish(stale);
      unpublish = () => publication.unpublish();
      const svc = clusterService(world.root, world.cluster.registry, name);
      const counter = await svc.proxy();
      expect(await counter.inc()).toBe(1);
      expect(spawned).toHaveLength(1);
      const [child] = daemons();
      // Found a record whose daemon was gone: a restart.
      expect(child!.config?.startReason).toBe('restart');
      const read = await registry.discover();
      expect(read.status === 'valid' && read.record.instanceId).toBe(child!.daemon!.instanceId);
      expect(await electionKeys(world.etcd, name)).toEqual([expect.stringMatching(/^daemon\//)]);
      await counter[Symbol.asyncDispose]();
    } finally {
      server.close();
    }
  });

  it('a daemon of another protocol version at the record: its own answer, final at once (ERR_PROTOCOL_VERSION), nothing started', async () => {
    const name = uniqueName('version');
    const key = clusterKey(Buffer.from(SECRET), name);
    // A daemon of protocol 99 by hand: it refuses the hello, its refusal signed with the cluster key.
    const { server, port } = await listener((socket) => {
      socket.on('error', () => {});
      const decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES);
      socket.on('data', (chunk: Buffer) =>
        decoder.push(chunk, (payload) => {
          const hello = decodeValue(payload) as { nonce: Uint8Array };
          const nonce = createNonce();
          const refusal = {
            t: 'error',
            id: null,
            e: { code: 'ERR_PROTOCOL_VERSION', name: 'HandshakeError', message: 'The daemon speaks protocol 99' },
            v: 99,
            pid: 4242,
            nonce,
            proof: computeProof(key, 'refusal', hello.nonce, nonce),
          };
          socket.end(encodeFrame(refusal, HANDSHAKE_MAX_FRAME_BYTES));
        }),
      );
    });
    try {
      const registry = await openRegistry(world.cluster.registry, name);
      await registry.publish(record('127.0.0.1', port));
      const error = await rejection(clusterService(world.root, world.cluster.registry, name, { startTimeoutMs: 10_000 }).ensureStarted());
      expect(error).toBeInstanceOf(HandshakeError);
      expect(error.code).toBe('ERR_PROTOCOL_VERSION');
      expect(error.message).toMatch(/ \(pid 4242\) speaks protocol 99; this client speaks \d+\./);
      expect(spawned).toHaveLength(0);
      expect(await electionKeys(world.etcd, name)).toEqual([expect.stringMatching(/^daemon\//)]);
    } finally {
      server.close();
    }
  });

  it("a malformed record: a daemon is started under the start right, and takes its place once the record's lease ends", async () => {
    const name = uniqueName('malformed');
    const lease = world.etcd.lease(30);
    await lease.put(`loopback-singleton/election/${name}/daemon/1`).value('{"not":"a record"}');
    const starting = clusterService(world.root, world.cluster.registry, name).proxy();
    // The daemon started for it waits for its place behind the malformed record.
    await vi.waitFor(() => expect(daemons()).toHaveLength(1), { timeout: 10_000 });
    // Under the start right (the daemon's own campaign may be there too, behind the record).
    expect(await electionKeys(world.etcd, name)).toEqual(expect.arrayContaining(['daemon/1', expect.stringMatching(/^start\//)]));
    await lease.revoke();
    const counter = await starting;
    expect(await counter.inc()).toBe(1);
    const [child] = daemons();
    // A malformed record is a dead daemon's: a restart.
    expect(child!.config?.startReason).toBe('restart');
    expect(spawned).toHaveLength(1);
    const registry = await openRegistry(world.cluster.registry, name);
    const read = await registry.discover();
    expect(read.status === 'valid' && read.record.instanceId).toBe(child!.daemon!.instanceId);
    expect(await electionKeys(world.etcd, name)).toEqual([expect.stringMatching(/^daemon\/[0-9a-f]+$/)]);
    await counter[Symbol.asyncDispose]();
  });

  it('a start right held elsewhere: the start waits, and says who holds it when the budget runs out', async () => {
    const name = uniqueName('locked');
    const registry = await openRegistry(world.cluster.registry, name);
    const right = await registry.acquireStartRight(undefined, AbortSignal.timeout(5000));
    try {
      const error = await rejection(clusterService(world.root, world.cluster.registry, name, { startTimeoutMs: 1500 }).ensureStarted());
      expect(error).toBeInstanceOf(ConnectionFailedError);
      expect(error.message).toBe(
        `Could not start or reach the daemon "${name}" within 1500 ms (stuck in "locking": the right to start it is held elsewhere in the cluster ` +
          `(etcd at ${parseRegistryEndpoints(world.cluster.registry).text}); metadata: absent). See ${join(world.root, name, 'daemon.log')}`,
      );
      expect(spawned).toHaveLength(0);
    } finally {
      await right?.release();
    }
    // The waiting campaign was given up with the attempt: only the test's was left, and it is gone now.
    expect(await electionKeys(world.etcd, name)).toEqual([]);
  });

  it('an etcd that does not answer: ERR_REGISTRY_UNAVAILABLE naming it, nothing started', async () => {
    const name = uniqueName('noetcd');
    const error = await rejection(clusterService(world.root, 'etcd://127.0.0.1:1', name, { startTimeoutMs: 600 }).ensureStarted());
    expect(error).toBeInstanceOf(RegistryError);
    expect(error.code).toBe('ERR_REGISTRY_UNAVAILABLE');
    expect(error.message).toMatch(new RegExp(`^etcd at etcd://127\\.0\\.0\\.1:1 did not answer reading the record of "${name}": .+; check that etcd runs`));
    expect(spawned).toHaveLength(0);
  });

  it('an etcd that accepts and never answers: each request gets half the start budget, and the start ends saying so', async () => {
    const name = uniqueName('silent-etcd');
    const { server, port } = await listener((socket) => socket.on('error', () => {}));
    try {
      const error = await rejection(clusterService(world.root, `etcd://127.0.0.1:${port}`, name, { startTimeoutMs: 3000 }).ensureStarted());
      expect(error).toBeInstanceOf(RegistryError);
      expect(error.code).toBe('ERR_REGISTRY_UNAVAILABLE');
      expect(error.message).toBe(
        `etcd at etcd://127.0.0.1:${port} did not answer reading the record of "${name}": no answer within 1500 ms; ` +
          'check that etcd runs at those endpoints, that this machine reaches them (address, port, firewall), ' +
          'and that most of its members are up (without a quorum etcd answers nothing)',
      );
      expect(spawned).toHaveLength(0);
    } finally {
      server.close();
    }
  });

  it('another secret: refused with what to fix, the daemon left serving', async () => {
    const name = uniqueName('secret');
    const svc = clusterService(world.root, world.cluster.registry, name);
    const counter = await svc.proxy();
    expect(await counter.inc()).toBe(1);
    const port = Number((await svc.ping()).address.split(':')[1]);
    const error = await rejection(clusterService(world.root, world.cluster.registry, name, { secret: 'another secret, not the cluster one' }).ensureStarted());
    expect(error).toBeInstanceOf(LoopbackSingletonError);
    expect(error.code).toBe('ERR_LOOPBACK_SINGLETON');
    expect(error.message).toBe(
      `The cluster daemon "${name}" (127.0.0.1:${port}, pid ${process.pid} on ${hostname()}) could not prove it holds the key derived from the cluster secret: ` +
        'the machines were given different secrets (or something else listens there). Give every machine the same `secret` (or LOOPBACK_SINGLETON_SECRET)',
    );
    expect((error.cause as { code?: string }).code).toBe('ERR_AUTH_FAILED');
    expect(spawned).toHaveLength(1);
    expect(await counter.inc()).toBe(2);
    await counter[Symbol.asyncDispose]();
  });

  it('another factory: refused by default; with onMismatch replace, the daemon drains, its record goes, and one with the new args serves', async () => {
    const name = uniqueName('mismatch');
    // It would outlive the start budget idle: only the replace asking it to drain ends it.
    const first = clusterService(world.root, world.cluster.registry, name, { args: [0], idleTtlMs: 60_000 });
    const counter = await first.proxy();
    expect(await counter.inc()).toBe(1);
    const [old] = daemons();

    const refused = await rejection(clusterService(world.root, world.cluster.registry, name, { args: [100] }).ensureStarted());
    expect(refused).toBeInstanceOf(FactoryMismatchError);
    expect(refused.code).toBe('ERR_FACTORY_MISMATCH');
    expect(spawned).toHaveLength(1);
    expect(await counter.inc()).toBe(2);
    await counter[Symbol.asyncDispose]();

    const replaced: unknown[] = [];
    const onReplaced = (message: unknown) => replaced.push(message);
    subscribe('loopback-singleton:client:replaced', onReplaced);
    try {
      const svc = clusterService(world.root, world.cluster.registry, name, { args: [100], onMismatch: 'replace', startTimeoutMs: 5000 });
      const second = await svc.proxy();
      expect(await second.inc()).toBe(101);
      expect(await old!.outcome).toBe('stopped');
      expect(replaced).toEqual([{ name, pid: process.pid }]);
      expect(spawned).toHaveLength(2);
      const fresh = daemons()[1]!;
      expect(fresh.config?.startReason).toBe('replace');
      const registry = await openRegistry(world.cluster.registry, name);
      const read = await registry.discover();
      expect(read.status === 'valid' && read.record.instanceId).toBe(fresh.daemon!.instanceId);
      expect(await electionKeys(world.etcd, name)).toEqual([expect.stringMatching(/^daemon\//)]);
      await second[Symbol.asyncDispose]();
    } finally {
      unsubscribe('loopback-singleton:client:replaced', onReplaced);
    }
  });

  it('with onMismatch replace, the old daemon is asked to drain, not to stop: a call in flight on it is answered; the replacing client closes its connection to it', async () => {
    const name = uniqueName('replace-drain');
    const first = clusterService<Gated>(world.root, world.cluster.registry, name, { args: [0], idleTtlMs: 60_000 });
    const proxy = await first.proxy();
    expect(await proxy.inc()).toBe(1);
    const [old] = daemons();
    expect(old!.daemon!.info().active).toBe(1);
    const gate = `${name}-gate`;
    const inFlight = proxy.gated(gate, 'answered').catch((error: unknown) => error);
    // And one accepted behind it: a graceful drain answers it too, a forced one refuses it at once.
    const queued = proxy.inc().catch((error: unknown) => error);
    await vi.waitFor(() => expect(old!.daemon!.info()).toMatchObject({ running: 1, queued: 1 }));

    const replacing = clusterService(world.root, world.cluster.registry, name, { args: [100], onMismatch: 'replace' }).proxy();
    await vi.waitFor(() => expect(JSON.stringify(old!.daemon!.info().state)).toContain('draining'), { timeout: 10_000 });
    // The replacing client's connection (it asked on it) is closed: the proxy's is the only one left.
    await vi.waitFor(() => expect(old!.daemon!.info().active).toBe(1), { timeout: 5000 });
    openGate(gate);
    expect(await inFlight).toBe('answered');
    expect(await queued).toBe(2);
    const second = await replacing;
    expect(await second.inc()).toBe(101);
    expect(await old!.outcome).toBe('stopped');
    expect(spawned).toHaveLength(2);
    expect(daemons()[1]!.config?.startReason).toBe('replace');
    await second[Symbol.asyncDispose]();
    await proxy[Symbol.asyncDispose]();
  });

  it('a start waiting for the start right gives up waiting when a record is published meanwhile, and goes back to it: nothing started', async () => {
    const name = uniqueName('published-meanwhile');
    const registry = await openRegistry(world.cluster.registry, name);
    const right = await registry.acquireStartRight(undefined, AbortSignal.timeout(5000));
    try {
      const starting = rejection(clusterService(world.root, world.cluster.registry, name, { startTimeoutMs: 3000 }).ensureStarted());
      // The start's own campaign waits behind the test's.
      await vi.waitFor(async () => expect((await electionKeys(world.etcd, name)).filter((key) => key.startsWith('start/'))).toHaveLength(2), { timeout: 10_000 });
      // A daemon that does not answer takes the place: the start goes back to it, and waits for it.
      const { port } = await publishUnanswered(world.cluster.registry, name);
      const error = await starting;
      expect(error).toBeInstanceOf(ConnectionFailedError);
      expect(error.code).toBe('ERR_DAEMON_UNRESPONSIVE');
      expect(error.message).toContain(`(127.0.0.1:${port}, pid ${process.pid} on 127.0.0.1) holds its place in etcd`);
      expect(spawned).toHaveLength(0);
    } finally {
      await right?.release();
    }
  });

  it('a supervised proxy whose daemon went starts the next one as a restart', async () => {
    const name = uniqueName('supervised');
    const proxy = await clusterService(world.root, world.cluster.registry, name).proxy();
    expect(await proxy.inc()).toBe(1);
    const [child] = daemons();
    expect(child!.config?.startReason).toBe('first');
    child!.daemon!.shutdownRequested(true);
    expect(await child!.outcome).toBe('stopped');
    expect(await electionKeys(world.etcd, name)).toEqual([]);
    // The proxy restarts it, and says the object's state was lost with the first call after.
    const lost = await rejection(proxy.inc());
    expect(lost.code).toBe('ERR_DAEMON_LOST');
    expect(await proxy.inc()).toBe(1);
    expect(spawned).toHaveLength(2);
    expect(daemons()[1]!.config?.startReason).toBe('restart');
    await proxy[Symbol.asyncDispose]();
  });

  it('a daemon held up past its lease answers nothing more: the reply it was about to send is fenced, the call is lost', async () => {
    const name = uniqueName('held-up');
    const svc = clusterService<Gated>(world.root, world.cluster.registry, name);
    const proxy = await svc.proxy();
    expect(await proxy.inc()).toBe(1);
    const [child] = daemons();
    const gate = `${name}-gate`;
    const inFlight = proxy.gated(gate, 'answered').catch((error: unknown) => error);
    await vi.waitFor(() => expect(child!.daemon!.info().running).toBe(1));
    // The call can answer now, but this process is held up (as a paused machine) past the lease's
    // 2 s before it gets to: no renewal came back meanwhile, so the place is no longer surely held.
    openGate(gate);
    const until = performance.now() + 2500;
    while (performance.now() < until);
    const lost = await inFlight;
    expect(lost).toBeInstanceOf(DaemonConnectionError);
    expect((lost as DaemonConnectionError).code).toBe('ERR_DAEMON_LOST');
    expect(await child!.outcome).toBe('stopped');
    expect(readFileSync(join(world.root, name, 'daemon.log'), 'utf8')).toContain('lost its place in the cluster registry (expired: ');
    await proxy[Symbol.asyncDispose]();
  });

  it('a daemon whose record goes loses its place: it answers nothing more and drains; the next start is a new daemon with a larger fencing token', async () => {
    const name = uniqueName('fenced');
    const svc = clusterService(world.root, world.cluster.registry, name);
    expect(await (await svc.proxy()).inc()).toBe(1);
    const [child] = daemons();
    const registry = await openRegistry(world.cluster.registry, name);
    const before = await registry.discover();
    const token = before.status === 'valid' ? before.fencingToken : undefined;
    expect(fencingToken()).toBe(token);

    const [key] = await electionKeys(world.etcd, name);
    await world.etcd.delete().key(`loopback-singleton/election/${name}/${key}`);
    expect(await child!.outcome).toBe('stopped');
    expect(fencingToken()).toBeUndefined();
    expect(readFileSync(join(world.root, name, 'daemon.log'), 'utf8')).toContain(
      'lost its place in the cluster registry (superseded: its record went or another came first): answering nothing more, draining',
    );

    const again = await svc.proxy();
    expect(await again.inc()).toBe(1);
    expect(spawned).toHaveLength(2);
    const after = await registry.discover();
    expect(after.status === 'valid' && after.record.instanceId).toBe(daemons()[1]!.daemon!.instanceId);
    expect(after.status === 'valid' && after.fencingToken! > token!).toBe(true);
    expect(fencingToken()).toBe(after.status === 'valid' ? after.fencingToken : 'none');
    await again[Symbol.asyncDispose]();
  });
});
