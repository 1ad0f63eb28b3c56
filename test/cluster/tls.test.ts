/**
 * `scope: 'cluster'` over mutual TLS, end to end, on a real 3-member etcd cluster, with a CA and
 * certificates `openssl` makes (test/support/certs.ts): machines with `tls` share one daemon,
 * and their calls cross TLS; a machine without `tls`, one trusting another CA, or one with
 * another secret is refused with an error that says which, starts nothing, and leaves the
 * daemon serving; a daemon reachable off loopback without `tls` is refused at construction.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localSingleton } from '../../dist/src/index.js';
import { makeTestCerts, material, type TestCerts } from '../support/certs.js';
import { COUNTER } from '../support/clients.js';
import { ETCD_MISSING, type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';
import { currentRecord, daemonPids, killDaemonsAtEnd, type Machine, machines, serviceOn, SECRET } from './machines.js';
import { uniqueName } from './support.js';

type Counter = { inc(): Promise<number>; get(): Promise<number> };

/** What `promise` rejects with (fails the test if it resolves). */
async function refusal(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  return promise.then(
    () => {
      throw new Error('expected a refusal');
    },
    (error: unknown) => error as Error & { code?: string },
  );
}

describe.skipIf(ETCD_MISSING !== undefined)(`scope 'cluster' over TLS${ETCD_MISSING ? ` (${ETCD_MISSING})` : ''}`, () => {
  let cluster: EtcdCluster;
  let certs: TestCerts;
  beforeAll(async () => {
    certs = makeTestCerts();
    cluster = await startEtcdCluster();
  });
  afterAll(() => cluster?.stop());

  it('machines with tls share one daemon over TLS; no tls, another CA or another secret is refused clearly', { timeout: 90_000 }, async () => {
    const name = uniqueName('tls');
    // Machines on 127.0.0.2 and 127.0.0.3, each host in the daemon certificate's SANs.
    const all = machines(cluster.registry, 3, { tls: material(certs.daemon, certs.ca) }).slice(1);
    const [a, b] = all as [Machine, Machine];
    killDaemonsAtEnd(all, name);

    const onA = await serviceOn<Counter>(a, name, COUNTER).proxy();
    const onB = await serviceOn<Counter>(b, name, COUNTER).proxy();
    expect(await onA.inc()).toBe(1);
    expect(await onB.inc()).toBe(2);
    const [pid] = daemonPids(all, name);
    expect(daemonPids(all, name)).toEqual([pid]);
    const record = await currentRecord(cluster.registry, name);
    expect([record?.host, record?.pid]).toEqual([a.host, pid]);

    // A machine without tls (allowed on its own loopback) dials the TLS daemon in plain TCP.
    const plain = { ...a, options: { ...a.options, tls: undefined, host: '127.0.0.1' } };
    const noTls = await refusal(serviceOn(plain, name, COUNTER).ensureStarted());
    expect(noTls.code).toBe('ERR_LOOPBACK_SINGLETON');
    expect(noTls.message).toMatch(/over TLS: .*takes TLS connections only/);

    // A machine that trusts another CA: the daemon's certificate is not from it.
    const stranger = { ...b, options: { ...b.options, tls: material(certs.otherClient, certs.otherCa) } };
    const otherCa = await refusal(serviceOn(stranger, name, COUNTER).ensureStarted());
    expect(otherCa.code).toBe('ERR_LOOPBACK_SINGLETON');
    expect(otherCa.message).toMatch(/not signed by the CA in `tls.ca`/);

    // Right certificates, another secret: the handshake inside TLS still refuses it.
    const wrongSecret = { ...b, options: { ...b.options, secret: 'another secret, not the cluster one' } };
    const secret = await refusal(serviceOn(wrongSecret, name, COUNTER).ensureStarted());
    expect(secret.message).toMatch(/could not prove it holds the key derived from the cluster secret/);

    // None of them started a daemon, and the one daemon still serves both machines.
    expect(daemonPids(all, name)).toEqual([pid]);
    expect(await onB.inc()).toBe(3);
    expect(await onA.get()).toBe(3);
    await onA[Symbol.asyncDispose]();
    await onB[Symbol.asyncDispose]();
    await serviceOn(b, name, COUNTER).shutdown();
  });

  it('a daemon reachable off loopback needs tls and the secret: refused when the service is made', () => {
    const base = { scope: 'cluster' as const, registry: cluster.registry, secret: SECRET };
    expect(() => localSingleton(uniqueName('wild'), COUNTER, { ...base, host: '0.0.0.0' })).toThrow(
      /Refusing to listen on `0\.0\.0\.0`: .*needs `tls: \{ cert, key, ca \}`/,
    );
    expect(() => localSingleton(uniqueName('wild'), COUNTER, { ...base, secret: undefined, host: '0.0.0.0', tls: material(certs.daemon, certs.ca) })).toThrow(
      /cluster secret/,
    );
    expect(() => localSingleton(uniqueName('wild'), COUNTER, { ...base, host: '0.0.0.0', tls: material(certs.daemon, certs.ca) })).not.toThrow();
  });
});
