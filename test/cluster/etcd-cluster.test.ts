/**
 * The test etcd cluster itself (test/support/etcd-cluster.ts): it starts healthy, survives a
 * member's death, takes the member back, and leaves no process or data dir behind.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { ETCD_MISSING, type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';
import { processesMentioning } from '../support/proc.js';

describe.skipIf(ETCD_MISSING !== undefined)(`the test etcd cluster${ETCD_MISSING ? ` (${ETCD_MISSING})` : ''}`, () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    const began = performance.now();
    cluster = await startEtcdCluster();
    console.log(`test etcd cluster: 3 members healthy in ${Math.round(performance.now() - began)} ms`);
  });
  afterAll(() => cluster?.stop());

  it('runs three members, each answering on its own client port', async () => {
    expect(cluster.pids()).toHaveLength(3);
    expect(cluster.registry).toMatch(/^etcd:\/\/127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+$/);
    for (const endpoint of cluster.endpoints) {
      const body = (await (await fetch(`${endpoint}/health`)).json()) as { health: string };
      expect(body.health).toBe('true');
    }
  });

  it('stays healthy with one member killed, and takes it back', async () => {
    await cluster.kill(2);
    onTestFinished(() => cluster.restart(2));
    expect(cluster.pids()).toHaveLength(2);
    // If the member killed led the cluster, the other two elect a new leader first.
    await vi.waitFor(
      async () => {
        const body = (await (await fetch(`${cluster.endpoints[0]}/health`)).json()) as { health: string };
        expect(body.health).toBe('true');
      },
      { timeout: 15_000, interval: 50 },
    );
    await cluster.restart(2);
    expect(cluster.pids()).toHaveLength(3);
  });

  it('stops, leaving no etcd process and no data dir', async () => {
    const { root } = cluster;
    expect(processesMentioning(root)).toHaveLength(3);
    await cluster.stop();
    expect(processesMentioning(root)).toEqual([]);
    expect(existsSync(root)).toBe(false);
    expect(cluster.pids()).toEqual([]);
  });
});
