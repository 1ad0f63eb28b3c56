/**
 * The etcd registry when the etcd cluster loses its quorum (two of three members killed): the
 * leader's local deadline runs out and it reports the loss, nobody else gets elected
 * meanwhile, a read says "unreadable" rather than "absent", and once the quorum is back a new
 * leader is elected with a larger fencing token. Its own cluster: the test breaks it.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Loss, Publication } from '../../src/registry/registry.js';
import type { ClusterRecord } from '../../src/registry/record.js';
import { ETCD_MISSING, type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';
import { openRegistry, record, track, uniqueName } from './support.js';

const WAIT = { timeout: 20_000, interval: 20 };

describe.skipIf(ETCD_MISSING !== undefined)(`the etcd registry without an etcd quorum${ETCD_MISSING ? ` (${ETCD_MISSING})` : ''}`, () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await startEtcdCluster();
  });
  afterAll(() => cluster?.stop());

  it('the leader reports the loss once its local deadline passes; no one else is elected until the quorum is back', async () => {
    const name = uniqueName('quorum');
    const [a, b] = await Promise.all([openRegistry(cluster.registry, name), openRegistry(cluster.registry, name)]);
    const leader = await a.publish(record('127.0.0.2'));
    const losses: Loss[] = [];
    leader.onLost((loss) => losses.push(loss));

    const stopped = await cluster.stopQuorum();
    expect(stopped).toHaveLength(2);
    const contender = track(b.publish(record('127.0.0.3')));

    await vi.waitFor(() => expect(losses).toHaveLength(1), WAIT);
    expect(losses[0]!.reason).toBe('expired');
    expect(losses[0]!.deadline <= losses[0]!.at).toBe(true);
    expect(leader.isHeld()).toBe(false);
    // Without a quorum nothing can be read, and that is not "no daemon".
    expect((await b.discover()).status).toBe('unreadable');
    expect(contender.state.status).not.toBe('resolved');

    await Promise.all(stopped.map((index) => cluster.restart(index)));
    // The campaign made during the outage may have failed (its lease could not be granted), and a
    // client's circuit breakers stay open for a few seconds after the failures it saw: tried
    // again until it works, within a deadline.
    const first = await contender.promise.then(
      (publication) => publication,
      () => undefined,
    );
    const next: Publication<ClusterRecord> = first ?? (await vi.waitFor(() => b.publish(record('127.0.0.3')), WAIT));
    expect(next.fencingToken > leader.fencingToken).toBe(true);
    expect(next.isHeld()).toBe(true);
    await vi.waitFor(async () => expect((await a.discover()).status).toBe('valid'), WAIT);
    // The old leader stays lost: one report, never held again.
    expect(losses).toHaveLength(1);
    expect(leader.isHeld()).toBe(false);
    await next.unpublish();
  });
});
