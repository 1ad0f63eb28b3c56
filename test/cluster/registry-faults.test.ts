/**
 * A cluster registry that does not answer ends a `scope: 'cluster'` attempt with its own error:
 * `RegistryError` (`ERR_REGISTRY_UNAVAILABLE`, a `ConnectionFailedError`) that names the
 * endpoints, before the attempt's own deadline, and with no daemon started on it. Three ways
 * etcd fails to answer: nothing listens at its endpoints (a closed port: no etcd needed), it
 * accepts connections but says nothing (a silent server: no etcd needed), and a real etcd
 * cluster that lost its quorum.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { ConnectionFailedError, RegistryError } from '../../dist/src/index.js';
import { COUNTER } from '../support/clients.js';
import { ETCD_MISSING, type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';
import { daemonPids, killDaemonsAtEnd, machines, serviceOn } from './machines.js';
import { freePorts } from '../support/ports.js';
import { uniqueName } from './support.js';

/** A TCP server on 127.0.0.1 that accepts connections and never says a word, closed when the test ends. */
async function silentServer(): Promise<number> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as { port: number }).port;
}

/** What `promise` rejected with; fails the test when it resolved. */
async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a rejection');
}

/** Asserts `error` is the registry's, naming `registry`. */
function expectRegistryError(error: Error & { code?: string }, registry: string): void {
  expect(error.code).toBe('ERR_REGISTRY_UNAVAILABLE');
  expect(error).toBeInstanceOf(RegistryError);
  // Existing `instanceof ConnectionFailedError` handling keeps working.
  expect(error).toBeInstanceOf(ConnectionFailedError);
  expect((error as RegistryError).registry).toBe(registry);
  expect(error.message).toContain(`etcd at ${registry} did not answer`);
}

describe('a cluster attempt when etcd cannot be reached', () => {
  it('nothing listens at the endpoints: ERR_REGISTRY_UNAVAILABLE naming them, no daemon started; shutdown() says the same', async () => {
    const [a, b] = await freePorts(2);
    const registry = `etcd://127.0.0.1:${a},127.0.0.1:${b}`;
    const name = uniqueName('nowhere');
    const all = machines(registry, 1, { startTimeoutMs: 5000 });
    killDaemonsAtEnd(all, name);
    const svc = serviceOn(all[0]!, name, COUNTER);

    const error = await rejection(svc.ensureStarted());
    expectRegistryError(error, registry);
    expect(error.message).toContain(`reading the record of "${name}"`);
    expect(daemonPids(all, name)).toEqual([]);

    expectRegistryError(await rejection(svc.shutdown()), registry);
  });

  it('etcd accepts connections but never answers: ERR_REGISTRY_UNAVAILABLE, not the attempt timeout', async () => {
    // Each etcd request of an attempt waits at most half of startTimeoutMs, so that the attempt
    // ends saying etcd is the cause rather than with a timeout (ERR_CONNECTION_FAILED) that names none.
    const registry = `etcd://127.0.0.1:${await silentServer()}`;
    const name = uniqueName('silent');
    const all = machines(registry, 1, { startTimeoutMs: 1500 });
    killDaemonsAtEnd(all, name);

    const error = await rejection(serviceOn(all[0]!, name, COUNTER).ensureStarted());
    expectRegistryError(error, registry);
    expect(daemonPids(all, name)).toEqual([]);
  });
});

describe.skipIf(ETCD_MISSING !== undefined)(`a cluster attempt when etcd has no quorum${ETCD_MISSING ? ` (${ETCD_MISSING})` : ''}`, () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await startEtcdCluster();
  });
  afterAll(() => cluster?.stop());

  it('two of three members down: ERR_REGISTRY_UNAVAILABLE naming the endpoints, no daemon started', async () => {
    const name = uniqueName('quorumless');
    const all = machines(cluster.registry, 1, { startTimeoutMs: 5000 });
    killDaemonsAtEnd(all, name);
    await cluster.stopQuorum();

    const error = await rejection(serviceOn(all[0]!, name, COUNTER).ensureStarted());
    expectRegistryError(error, cluster.registry);
    expect(daemonPids(all, name)).toEqual([]);
  });
});
