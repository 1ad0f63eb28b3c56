/**
 * The etcd registry's election on a real 3-member etcd cluster: one leader among contenders,
 * its fencing token, and what happens when the leader's lease ends (given up, revoked in etcd,
 * or expired behind a partition). Outcomes are counted and events ordered; no duration is
 * asserted: every wait is a generous deadline.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import type { Loss, Publication, RecordRead } from '../../src/registry/registry.js';
import type { ClusterRecord } from '../../src/registry/record.js';
import { ETCD_MISSING, type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { openRegistry, record, TTL_SECONDS, track, uniqueName } from './support.js';

/** Generous: a lease TTL, etcd's expiry sweep (500 ms) and a busy 2-core machine. */
const WAIT = { timeout: 20_000, interval: 20 };

describe.skipIf(ETCD_MISSING !== undefined)(`the etcd registry's election${ETCD_MISSING ? ` (${ETCD_MISSING})` : ''}`, () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await startEtcdCluster();
  });
  afterAll(() => cluster?.stop());

  it('two contenders: exactly one is the leader, and both registries and a watcher see its record', async () => {
    const name = uniqueName('two');
    const [a, b, observer] = await Promise.all([openRegistry(cluster.registry, name), openRegistry(cluster.registry, name), openRegistry(cluster.registry, name)]);
    expect(await observer.discover()).toEqual({ status: 'absent' });
    const seen: RecordRead<ClusterRecord>[] = [];
    const watch = await observer.watch((read) => seen.push(read));
    onTestFinished(() => watch.close());

    const records = [record('127.0.0.2'), record('127.0.0.3')];
    const contenders = [track(a.publish(records[0]!)), track(b.publish(records[1]!))];
    await vi.waitFor(() => expect(contenders.filter((c) => c.state.status === 'resolved')).toHaveLength(1), WAIT);
    const winner = contenders.findIndex((c) => c.state.status === 'resolved');
    const loser = 1 - winner;
    const leader = (await contenders[winner]!.promise) as Publication<ClusterRecord>;
    expect(leader.record).toEqual(records[winner]);
    expect(leader.isHeld()).toBe(true);

    // Everyone reads the same record, with the leader's fencing token; the other stays a candidate.
    for (const registry of [a, b, observer]) {
      expect(await registry.discover()).toEqual({ status: 'valid', record: records[winner], fencingToken: leader.fencingToken });
    }
    await vi.waitFor(() => expect(seen.at(-1)).toEqual({ status: 'valid', record: records[winner], fencingToken: leader.fencingToken }), WAIT);
    expect(contenders[loser]!.state.status).toBe('pending');

    // The leader gives its place up: the other is elected, with a strictly larger token.
    await leader.unpublish();
    expect(leader.isHeld()).toBe(false);
    const next = await contenders[loser]!.promise;
    expect(next.fencingToken > leader.fencingToken).toBe(true);
    expect(await observer.discover()).toEqual({ status: 'valid', record: records[loser], fencingToken: next.fencingToken });
    await vi.waitFor(() => expect(seen.at(-1)).toEqual({ status: 'valid', record: records[loser], fencingToken: next.fencingToken }), WAIT);
    await next.unpublish();
    await vi.waitFor(() => expect(seen.at(-1)).toEqual({ status: 'absent' }), WAIT);
    expect(seen.map((read) => read.status)).toEqual(['absent', 'valid', 'valid', 'absent']);
  });

  it('a leader whose lease is revoked in etcd: the other wins with a larger token, and the old one is told', async () => {
    const name = uniqueName('revoked');
    const [a, b] = await Promise.all([openRegistry(cluster.registry, name), openRegistry(cluster.registry, name)]);
    const old = await a.publish(record('127.0.0.2'));
    const losses: Loss[] = [];
    old.onLost((loss) => losses.push(loss));
    const contender = track(b.publish(record('127.0.0.3')));

    // An operator (or etcd itself) ends the leader's lease.
    const admin = new Etcd3({ hosts: [...cluster.endpoints] });
    onTestFinished(() => admin.close());
    const [leaderKey] = (await admin.getAll().prefix(`loopback-singleton/election/${name}/daemon/`).sort('Create', 'Ascend').limit(1).exec()).kvs;
    await admin.leaseClient.leaseRevoke({ ID: leaderKey!.lease });

    const next = await contender.promise;
    expect(next.fencingToken > old.fencingToken).toBe(true);
    await vi.waitFor(() => expect(losses).toHaveLength(1), WAIT);
    expect(['revoked', 'superseded']).toContain(losses[0]!.reason);
    expect(old.isHeld()).toBe(false);
    expect(next.isHeld()).toBe(true);
  });

  it('a leader cut off from etcd: its local deadline has passed when the other wins, with a larger token', async () => {
    const name = uniqueName('cut');
    // The old leader reaches etcd through proxies the test cuts: a partition, neither side paused.
    const proxies = await Promise.all(cluster.endpoints.map((url) => startTcpProxy({ host: '127.0.0.1', port: Number(new URL(url).port) })));
    onTestFinished(async () => {
      await Promise.all(proxies.map((proxy) => proxy.close()));
    });
    const a = await openRegistry(`etcd://${proxies.map((proxy) => `127.0.0.1:${proxy.port}`).join(',')}`, name);
    const b = await openRegistry(cluster.registry, name);
    const old = await a.publish(record('127.0.0.2'));
    const events: string[] = [];
    let lossDeadline = Number.NaN;
    old.onLost((loss) => {
      lossDeadline = loss.deadline;
      events.push(`old lost (${loss.reason})`);
    });
    let wonAt = Number.NaN;
    const contender = track(
      b.publish(record('127.0.0.3')).then((next) => {
        wonAt = performance.now();
        // What a reply of the old daemon would check at this very moment.
        events.push(`old held when the new one won: ${old.isHeld()}`);
        events.push('new elected');
        return next;
      }),
    );
    expect(contender.state.status).toBe('pending');
    for (const proxy of proxies) proxy.cut();

    const next = await contender.promise;
    expect(events).toEqual(['old lost (expired)', 'old held when the new one won: false', 'new elected']);
    // The order of two instants on this process's monotonic clock, not a duration.
    expect(lossDeadline <= wonAt).toBe(true);
    expect(next.fencingToken > old.fencingToken).toBe(true);
    expect(old.holdsLeaseUntil()).toBe(Number.NEGATIVE_INFINITY);
    await Promise.all(proxies.map((proxy) => proxy.close()));
  });

  it('with one member killed, the election still works', async () => {
    await cluster.kill(0);
    onTestFinished(() => cluster.restart(0));
    const name = uniqueName('member-down');
    const [a, b] = await Promise.all([openRegistry(cluster.registry, name), openRegistry(cluster.registry, name)]);
    const contenders = [track(a.publish(record('127.0.0.2'))), track(b.publish(record('127.0.0.3')))];
    await vi.waitFor(() => expect(contenders.filter((c) => c.state.status === 'resolved')).toHaveLength(1), WAIT);
    const winner = contenders.findIndex((c) => c.state.status === 'resolved');
    const leader = await contenders[winner]!.promise;
    expect((await a.discover()).status).toBe('valid');
    await leader.unpublish();
    const next = await contenders[1 - winner]!.promise;
    expect(next.fencingToken > leader.fencingToken).toBe(true);
    expect(next.isHeld()).toBe(true);
  });

  it('the start right: one holder at a time; a waiter gives up when a daemon gets published', async () => {
    const name = uniqueName('start');
    const [a, b, daemon] = await Promise.all([openRegistry(cluster.registry, name), openRegistry(cluster.registry, name), openRegistry(cluster.registry, name)]);
    const held = await a.acquireStartRight(undefined, AbortSignal.timeout(WAIT.timeout));
    expect(held).toBeDefined();
    const waiter = track(b.acquireStartRight(undefined, AbortSignal.timeout(WAIT.timeout)));
    // The holder's daemon publishes: the waiter goes back to discovery instead of starting another.
    const publication = await daemon.publish(record());
    await vi.waitFor(() => expect(waiter.state).toEqual({ status: 'resolved', value: undefined }), WAIT);
    await held!.release();
    expect(held!.lost).toBeUndefined();

    // With that daemon's record judged stale by the caller, the right is taken (the holder released it).
    const again = await b.acquireStartRight(publication.record.instanceId, AbortSignal.timeout(WAIT.timeout));
    expect(again).toBeDefined();
    await again!.release();
    await publication.unpublish();
  });

  it('the start right taken and given back 20 times in a row: each time granted (an election that comes before the watch is ready counts)', async () => {
    const registry = await openRegistry(cluster.registry, uniqueName('start-loop'));
    let granted = 0;
    for (let i = 0; i < 20; i++) {
      const right = await registry.acquireStartRight(undefined, AbortSignal.timeout(WAIT.timeout));
      if (right !== undefined) granted++;
      await right?.release();
    }
    expect(granted).toBe(20);
  });

  it(`a lease TTL of ${TTL_SECONDS} s is what the deadline counts: right after publishing, it lies within one TTL from now`, async () => {
    const name = uniqueName('deadline');
    const registry = await openRegistry(cluster.registry, name);
    const before = performance.now();
    const publication = await registry.publish(record());
    const after = performance.now();
    // Instants compared, not durations measured: the deadline counts from a send made between them.
    expect(publication.holdsLeaseUntil() >= before + TTL_SECONDS * 1000).toBe(true);
    expect(publication.holdsLeaseUntil() <= after + TTL_SECONDS * 1000).toBe(true);
    await publication.unpublish();
    expect(publication.holdsLeaseUntil()).toBe(Number.NEGATIVE_INFINITY);
  });
});
