/**
 * `scope: 'cluster'` when another machine asks for another factory (other args): by default it
 * gets `FactoryMismatchError` and the running daemon is left alone; with `onMismatch: 'replace'`
 * the daemon it found drains (its record goes as it exits) and one with the new args is
 * started on the asking machine. Real 3-member etcd cluster, "machines" as in ./machines.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COUNTER } from '../support/clients.js';
import { waitForExit } from '../support/daemon.js';
import { ETCD_MISSING, type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';
import { daemonPids, killDaemonsAtEnd, machines, publishedCount } from './machines.js';
import { uniqueName } from './support.js';
import { localSingleton } from '../../dist/src/index.js';

type Counter = { inc(): Promise<number> };

describe.skipIf(ETCD_MISSING !== undefined)(`scope 'cluster': another factory${ETCD_MISSING ? ` (${ETCD_MISSING})` : ''}`, () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await startEtcdCluster();
  });
  afterAll(() => cluster?.stop());

  it('is refused by default, and replaces the running daemon (on another machine) with onMismatch: replace', { timeout: 90_000 }, async () => {
    const name = uniqueName('mismatch');
    const [a, b] = machines(cluster.registry, 2);
    killDaemonsAtEnd([a!, b!], name);
    const onA = localSingleton<Counter>(name, COUNTER, { runtimeDir: a!.runtimeDir, ...a!.options, args: [0] });
    const first = await onA.proxy();
    expect(await first.inc()).toBe(1);
    const oldPid = (await onA.ping()).pid;

    const refused = await localSingleton(name, COUNTER, { runtimeDir: b!.runtimeDir, ...b!.options, args: [100] })
      .ensureStarted()
      .then(
        () => undefined,
        (error: { code?: string }) => error,
      );
    expect(refused?.code).toBe('ERR_FACTORY_MISMATCH');
    expect(await first.inc()).toBe(2);
    await first[Symbol.asyncDispose]();

    const onB = localSingleton<Counter>(name, COUNTER, { runtimeDir: b!.runtimeDir, ...b!.options, args: [100], onMismatch: 'replace' });
    const second = await onB.proxy();
    expect(await second.inc()).toBe(101);
    const info = await onB.ping();
    expect(info.pid).not.toBe(oldPid);
    expect(info.address).toMatch(/^127\.0\.0\.2:/);
    await waitForExit(oldPid, 30_000);
    expect(new Set(daemonPids([a!, b!], name))).toEqual(new Set([oldPid, info.pid]));
    expect(publishedCount([a!, b!], name)).toBe(2);
    await second[Symbol.asyncDispose]();
    await onB.shutdown();
  });
});
