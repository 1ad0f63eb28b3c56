/**
 * A leader paused (SIGSTOP) past its lease, in a process of its own: another process is elected
 * meanwhile with a larger fencing token, and the paused one, once continued, finds its place
 * lost before anything else: its local deadline counted from renewals sent before the pause.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { ETCD_MISSING, type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';
import { FIXTURES } from '../support/daemon.js';
import { openRegistry, record, track, uniqueName } from './support.js';

const WAIT = { timeout: 20_000, interval: 20 };

describe.skipIf(ETCD_MISSING !== undefined)(`a paused leader${ETCD_MISSING ? ` (${ETCD_MISSING})` : ''}`, () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await startEtcdCluster();
  });
  afterAll(() => cluster?.stop());

  it('SIGSTOPped past its lease: another wins with a larger token, and on SIGCONT the old one says its place is lost', async () => {
    const name = uniqueName('paused');
    const child = spawn(process.execPath, [join(FIXTURES, 'cluster-contender.mjs'), cluster.registry, name], { stdio: ['ignore', 'pipe', 'inherit'] });
    onTestFinished(() => {
      child.kill('SIGKILL');
    });
    const lines: string[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
    await vi.waitFor(() => expect(lines[0]).toMatch(/^elected \d+$/), WAIT);
    const oldToken = BigInt(lines[0]!.split(' ')[1]!);

    const registry = await openRegistry(cluster.registry, name);
    const contender = track(registry.publish(record('127.0.0.3')));
    expect(contender.state.status).toBe('pending');
    child.kill('SIGSTOP');
    const next = await contender.promise;
    expect(next.fencingToken > oldToken).toBe(true);

    child.kill('SIGCONT');
    await vi.waitFor(() => expect(lines).toHaveLength(3), WAIT);
    // Its timer, its first check or the watch's news of its key's deletion, whichever ran first
    // after the pause: lost, once, and never held.
    const [loss, woke] = lines.slice(1).sort();
    expect(loss).toMatch(/^lost (expired|superseded)$/);
    expect(woke).toBe('woke held=false');
    expect(next.isHeld()).toBe(true);
  });
});
