/**
 * `scope: 'cluster'` over mutual TLS in this process (src/net/tls.ts, tls-mismatch.ts, the
 * cluster client's verdicts in src/client/cluster-reach.ts), against a real 3-member etcd
 * cluster and daemons served here, with certificates `openssl` makes (test/support/certs.ts):
 * clients with the cluster's certificates share the daemon; a client without `tls`, one that
 * trusts another CA, one whose certificate another CA issued, a daemon whose certificate names
 * another address and a listener that speaks no TLS each fail with the error that says which;
 * what the daemon's listener answers on the wire; a TLS failure at an address etcd no longer
 * records is a stale record. ./tls.test.ts runs the same end to end from dist/.
 */
import { connect, createServer, type Socket } from 'node:net';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { Connection } from '../../src/client/connection.js';
import { LoopbackSingletonError } from '../../src/errors.js';
import { PLAIN_CLIENT_REFUSAL } from '../../src/net/tls-mismatch.js';
import { clusterKey } from '../../src/wire/auth.js';
import { DEFAULT_MAX_FRAME_BYTES, decodeValue, HEADER_BYTES } from '../../src/wire/codec.js';
import { makeTestCerts, material, type TestCerts } from '../support/certs.js';
import { ETCD_MISSING } from '../support/etcd-cluster.js';
import { daemons, spawned } from '../support/in-process.js';
import { clusterService, electionKeys, rejection, SECRET, inProcessClusterWorld } from './inproc.js';
import { openRegistry, record, uniqueName } from './support.js';

vi.mock('../../src/client/daemon-process.js', async (load) => ({
  ...(await load<typeof import('../../src/client/daemon-process.js')>()),
  spawnDaemonProcess: (await import('../support/in-process.js')).spawnInProcess,
}));

/** Everything a raw TCP client reads from 127.0.0.1:`port` after sending `bytes` (nothing: undefined), until the daemon closes it. */
async function rawExchange(port: number, bytes: Buffer | undefined): Promise<Buffer> {
  const socket: Socket = connect({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  if (bytes !== undefined) socket.write(bytes);
  await new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return Buffer.concat(chunks);
}

/** The one protocol frame `bytes` hold, decoded. */
function frame(bytes: Buffer): unknown {
  expect(bytes.readUInt32BE(0)).toBe(bytes.length - HEADER_BYTES);
  return decodeValue(bytes.subarray(HEADER_BYTES));
}

describe.skipIf(ETCD_MISSING !== undefined)(`scope 'cluster' over TLS in this process${ETCD_MISSING ? ` (${ETCD_MISSING})` : ''}`, () => {
  let certs: TestCerts;
  beforeAll(() => {
    certs = makeTestCerts();
  });
  const world = inProcessClusterWorld('lbs-cluster-tls-');

  it('clients with the cluster CA share the daemon; no tls, another CA, a certificate of another CA: refused, saying which', async () => {
    const name = uniqueName('tls');
    const tls = material(certs.daemon, certs.ca);
    const svc = clusterService(world.root, world.cluster.registry, name, { tls });
    const counter = await svc.proxy();
    expect(await counter.inc()).toBe(1);
    const [child] = daemons();
    expect(child!.config?.tls).toEqual(tls);
    const port = Number((await svc.ping()).address.split(':')[1]);
    // A client certificate (client purpose only) from the same CA.
    const client = clusterService(world.root, world.cluster.registry, name, { tls: material(certs.client, certs.ca) });
    const other = await client.proxy();
    expect(await other.inc()).toBe(2);
    await other[Symbol.asyncDispose]();

    const prefix = `Could not reach the cluster daemon "${name}" at 127.0.0.1:${port} over TLS: `;
    const plain = await rejection(clusterService(world.root, world.cluster.registry, name).ensureStarted());
    expect(plain).toBeInstanceOf(LoopbackSingletonError);
    expect(plain.code).toBe('ERR_LOOPBACK_SINGLETON');
    expect(plain.message).toBe(
      `${prefix}The listener at 127.0.0.1:${port} refused the handshake without proving it is our daemon (ERR_HANDSHAKE: ${PLAIN_CLIENT_REFUSAL})`,
    );

    const stranger = await rejection(clusterService(world.root, world.cluster.registry, name, { tls: material(certs.otherClient, certs.otherCa) }).ensureStarted());
    expect(stranger).toBeInstanceOf(LoopbackSingletonError);
    expect(stranger.code).toBe('ERR_LOOPBACK_SINGLETON');
    expect(stranger.message).toMatch(
      new RegExp(
        `^${literal(prefix)}Cannot connect to the daemon at 127\\.0\\.0\\.1:${port}: the daemon's certificate is not signed by the CA in \`tls\\.ca\` \\([A-Z_]+\\): ` +
          'give every machine a certificate issued by one CA, and that CA as `tls\\.ca`$',
      ),
    );

    // It trusts the right CA, but its own certificate comes from another: the daemon says no, in a protocol frame.
    const refused = await rejection(clusterService(world.root, world.cluster.registry, name, { tls: material(certs.otherClient, certs.ca) }).ensureStarted());
    expect(refused).toBeInstanceOf(LoopbackSingletonError);
    expect(refused.message).toBe(
      `${prefix}The listener at 127.0.0.1:${port} refused the handshake without proving it is our daemon (ERR_HANDSHAKE: ` +
        "This daemon does not accept this client's certificate (UNABLE_TO_VERIFY_LEAF_SIGNATURE): `tls.cert` must be issued by the CA the daemon trusts (its `tls.ca`))",
    );

    // None of them started a daemon; the one daemon still serves.
    expect(spawned).toHaveLength(1);
    expect(await counter.inc()).toBe(3);
    expect(await electionKeys(world.etcd, name)).toEqual([expect.stringMatching(/^daemon\//)]);
    await counter[Symbol.asyncDispose]();
  });

  it("the daemon's listener: plain bytes get the refusal in a protocol frame; a connection that sends nothing is closed", async () => {
    const name = uniqueName('wire');
    const svc = clusterService(world.root, world.cluster.registry, name, { tls: material(certs.daemon, certs.ca), connectTimeoutMs: 500 });
    await svc.ensureStarted();
    const port = Number((await svc.ping({})).address.split(':')[1]);
    expect(frame(await rawExchange(port, Buffer.from([0, 0, 0, 1, 0xc0])))).toEqual({
      t: 'error',
      id: null,
      e: { code: 'ERR_HANDSHAKE', name: 'HandshakeError', message: PLAIN_CLIENT_REFUSAL },
    });
    expect(await rawExchange(port, undefined)).toEqual(Buffer.alloc(0));

    // Clients that reset the connection, before their first bytes or right after plain ones: the daemon lives on.
    for (const bytes of [undefined, Buffer.from([0, 0, 0, 1, 0xc0])]) {
      const socket = connect({ host: '127.0.0.1', port });
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      if (bytes !== undefined) socket.write(bytes);
      socket.resetAndDestroy();
    }
    // A TLS connection that completed its handshakes is not cut at the handshake deadline (1000 ms here).
    const tls = material(certs.client, certs.ca);
    const connection = await Connection.open(
      { transport: 'tcp', host: '127.0.0.1', port },
      { token: clusterKey(Buffer.from(SECRET), name), maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, timeoutMs: 5000, name, tls },
    );
    try {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect((await connection.ping()).pid).toBe(process.pid);
    } finally {
      connection.close();
    }
  });

  it('a daemon whose certificate names another address: its own client says so, and nothing else is started', async () => {
    const name = uniqueName('altname');
    const error = await rejection(clusterService(world.root, world.cluster.registry, name, { tls: material(certs.elsewhere, certs.ca) }).ensureStarted());
    expect(error).toBeInstanceOf(LoopbackSingletonError);
    expect(error.code).toBe('ERR_LOOPBACK_SINGLETON');
    const port = daemons()[0]!.daemon!.info().address.split(':')[1];
    expect(error.message).toBe(
      `Could not reach the cluster daemon "${name}" at 127.0.0.1:${port} over TLS: Cannot connect to the daemon at 127.0.0.1:${port}: ` +
        "the daemon's certificate is not issued for the address dialled (IP: 127.0.0.1 is not in the cert's list: 10.0.0.1): list that address in its subjectAltName (IP:...)",
    );
    expect(spawned).toHaveLength(1);
    expect(await electionKeys(world.etcd, name)).toEqual([expect.stringMatching(/^daemon\//)]);
  });

  it('tls towards a daemon without tls: the listener does not speak TLS', async () => {
    const name = uniqueName('plain');
    const svc = clusterService(world.root, world.cluster.registry, name);
    await svc.ensureStarted();
    const port = Number((await svc.ping()).address.split(':')[1]);
    const error = await rejection(clusterService(world.root, world.cluster.registry, name, { tls: material(certs.client, certs.ca) }).ensureStarted());
    expect(error).toBeInstanceOf(LoopbackSingletonError);
    expect(error.message).toMatch(
      new RegExp(
        `^Could not reach the cluster daemon "${name}" at 127\\.0\\.0\\.1:${port} over TLS: Cannot connect to the daemon at 127\\.0\\.0\\.1:${port}: the listener does not speak TLS \\(ERR_SSL_[A-Z_]+\\): a daemon without \`tls\`\\? every machine needs the same \`tls\` setting$`,
      ),
    );
    expect(spawned).toHaveLength(1);
  });

  it('a TLS failure at an address etcd no longer records is a stale record: a daemon is started in its place', async () => {
    const name = uniqueName('stale-tls');
    const registry = await openRegistry(world.cluster.registry, name);
    let unpublish: () => Promise<void> = async () => {};
    // What the stale record's port holds now speaks no TLS; the record goes as the client tries it.
    const server = createServer((socket) => {
      socket.on('error', () => {});
      void unpublish().then(() => socket.end(Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n')));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const publication = await registry.publish(record('127.0.0.1', (server.address() as { port: number }).port));
      unpublish = () => publication.unpublish();
      const svc = clusterService(world.root, world.cluster.registry, name, { tls: material(certs.daemon, certs.ca) });
      const counter = await svc.proxy();
      expect(await counter.inc()).toBe(1);
      expect(spawned).toHaveLength(1);
      expect(daemons()[0]!.config?.startReason).toBe('restart');
      const read = await registry.discover();
      expect(read.status === 'valid' && read.record.instanceId).toBe(daemons()[0]!.daemon!.instanceId);
      await counter[Symbol.asyncDispose]();
    } finally {
      server.close();
    }
  });
});

/** `text` as a literal in a RegExp. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
