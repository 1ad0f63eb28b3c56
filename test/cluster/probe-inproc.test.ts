/**
 * The probe of `list --registry` (src/cli/probe-cluster.ts) in this process: its options
 * (`--secret-env`, `--tls-*`, the secret's variable) and each way a probe ends, against a live
 * cluster daemon served here (test/support/in-process.ts) on a real 3-member etcd cluster,
 * with and without the secret, over TLS, and against addresses that refuse or never answer.
 * ./list-inproc.test.ts covers the listing itself; ./list.test.ts runs the command from dist/.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { UsageError } from '../../src/cli/args.js';
import { run as runList } from '../../src/cli/list.js';
import { PROBE_TIMEOUT_MS, type ProbeCredentials, probeCredentials, probeRecord } from '../../src/cli/probe-cluster.js';
import { PLAIN_CLIENT_REFUSAL } from '../../src/net/tls-mismatch.js';
import { makeTestCerts, material, type TestCerts } from '../support/certs.js';
import { ETCD_MISSING, type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';
import { daemons, makeRoot, removeRoot, stopInProcessDaemons } from '../support/in-process.js';
import { clusterService, SECRET } from './inproc.js';
import { record, uniqueName } from './support.js';

vi.mock('../../src/client/daemon-process.js', async (load) => ({
  ...(await load<typeof import('../../src/client/daemon-process.js')>()),
  spawnDaemonProcess: (await import('../support/in-process.js')).spawnInProcess,
}));

let certs: TestCerts;
let pemDir: string;
/** The test certificates as files, as `--tls-*` name them. */
const pem = (file: string) => join(pemDir, file);
beforeAll(() => {
  certs = makeTestCerts();
  pemDir = mkdtempSync(join(tmpdir(), 'lbs-probe-pem-'));
  writeFileSync(pem('client.pem'), certs.client.cert);
  writeFileSync(pem('client.key'), certs.client.key);
  writeFileSync(pem('ca.pem'), certs.ca);
  writeFileSync(pem('other-ca.pem'), certs.otherCa);
});
afterAll(() => {
  rmSync(pemDir, { recursive: true, force: true });
});
afterEach(() => {
  vi.unstubAllEnvs();
});

/** What `probeCredentials` throws for `values`. */
function refusal(values: Record<string, string | boolean | undefined>): unknown {
  try {
    probeCredentials(values);
  } catch (error) {
    return error;
  }
  throw new Error('expected a UsageError');
}

/** What a probe finds at a live daemon of this process with one client that made two calls. */
function reachableWithOneClient() {
  return {
    status: 'reachable',
    detail: null,
    pid: process.pid,
    // A client's connection is open: busy (idle is without any).
    state: 'serving.busy',
    connections: 1,
    queued: 0,
    callsServed: 2,
  };
}

describe("list --registry's probe options", () => {
  it('the secret comes from LOOPBACK_SINGLETON_SECRET, or the variable --secret-env names; unset or empty: none', () => {
    vi.stubEnv('LOOPBACK_SINGLETON_SECRET', SECRET);
    expect(probeCredentials({})).toEqual({ secret: Buffer.from(SECRET), secretEnv: 'LOOPBACK_SINGLETON_SECRET', tls: undefined, timeoutMs: PROBE_TIMEOUT_MS });
    expect(PROBE_TIMEOUT_MS).toBe(1500);
    vi.stubEnv('MY_SECRET', 'é'.repeat(8));
    expect(probeCredentials({ 'secret-env': 'MY_SECRET' }, 700)).toEqual({
      secret: Buffer.from('é'.repeat(8), 'utf8'),
      secretEnv: 'MY_SECRET',
      tls: undefined,
      timeoutMs: 700,
    });
    vi.stubEnv('MY_SECRET', '');
    expect(probeCredentials({ 'secret-env': 'MY_SECRET' }).secret).toBeUndefined();
    vi.stubEnv('MY_SECRET', undefined);
    expect(probeCredentials({ 'secret-env': 'MY_SECRET' }).secret).toBeUndefined();
  });

  it('a bad variable name, a short secret: usage errors that say what is wrong', () => {
    for (const name of ['1ABC', 'MY-SECRET', '', 'A B']) {
      const error = refusal({ 'secret-env': name });
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toBe(`list: expected \`--secret-env\` to name an environment variable, got ${JSON.stringify(name)}`);
    }
    vi.stubEnv('SHORT_SECRET', 'x'.repeat(15));
    const short = refusal({ 'secret-env': 'SHORT_SECRET' });
    expect(short).toBeInstanceOf(UsageError);
    expect((short as Error).message).toBe('list: expected SHORT_SECRET to hold the cluster secret, at least 16 bytes, got 15 byte(s)');
    vi.stubEnv('SHORT_SECRET', 'x'.repeat(16));
    expect(probeCredentials({ 'secret-env': 'SHORT_SECRET' }).secret).toEqual(Buffer.from('x'.repeat(16)));
  });

  it('TLS: all three files or none; a file that cannot be read or PEM that does not fit is a usage error', () => {
    const all = { 'tls-cert': pem('client.pem'), 'tls-key': pem('client.key'), 'tls-ca': pem('ca.pem') };
    expect(probeCredentials(all).tls).toEqual({ cert: Buffer.from(certs.client.cert), key: Buffer.from(certs.client.key), ca: Buffer.from(certs.ca) });
    for (const missing of ['tls-cert', 'tls-key', 'tls-ca'] as const) {
      const error = refusal({ ...all, [missing]: undefined });
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toBe('list: TLS needs all three of `--tls-cert`, `--tls-key` and `--tls-ca`');
    }
    expect((refusal({ 'tls-ca': pem('ca.pem') }) as Error).message).toBe('list: TLS needs all three of `--tls-cert`, `--tls-key` and `--tls-ca`');
    for (const option of ['tls-cert', 'tls-key', 'tls-ca'] as const) {
      const error = refusal({ ...all, [option]: pem('absent.pem') });
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toBe(
        `list: cannot read the file of \`--${option}\` (${pem('absent.pem')}): ENOENT: no such file or directory, open '${pem('absent.pem')}'`,
      );
    }
    const swapped = refusal({ ...all, 'tls-cert': pem('ca.pem') });
    expect(swapped).toBeInstanceOf(UsageError);
    expect((swapped as Error).message).toMatch(/^list: Expected `tls\.key` to be the private key of `tls\.cert` \(CN=lbs test ca\), but it is another key$/);
  });
});

/** A listener on 127.0.0.1 that runs `onConnection` for each connection. */
async function listener(onConnection: (socket: Socket) => void) {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

describe.skipIf(ETCD_MISSING !== undefined)(`list --registry's probe in this process, on a real etcd cluster${ETCD_MISSING ? ` (${ETCD_MISSING})` : ''}`, () => {
  let cluster: EtcdCluster;
  let root: string;
  beforeAll(async () => {
    cluster = await startEtcdCluster();
  });
  afterAll(async () => {
    await cluster?.stop();
  });
  beforeEach(() => {
    root = makeRoot('lbs-cluster-probe-');
  });
  afterEach(async () => {
    await stopInProcessDaemons();
    removeRoot(root);
  });

  const credentials = (extra: Partial<ProbeCredentials> = {}): ProbeCredentials => ({
    secret: Buffer.from(SECRET),
    secretEnv: 'LOOPBACK_SINGLETON_SECRET',
    tls: undefined,
    timeoutMs: 3000,
    ...extra,
  });

  it('a live daemon: reachable with the secret (its pid, state, connections and calls), refused with another, not probed without', async () => {
    const name = uniqueName('probed');
    const svc = clusterService(root, cluster.registry, name);
    const counter = await svc.proxy();
    await counter.inc();
    await counter.inc();
    const info = await svc.ping();
    const port = Number(info.address.split(':')[1]);
    const listed = { ...record('127.0.0.1', port), instanceId: daemons()[0]!.daemon!.instanceId };
    const daemon = daemons()[0]!.daemon!;
    const opened = vi.spyOn(daemon, 'authenticated');
    const closed = vi.spyOn(daemon, 'closed');

    expect(await probeRecord(name, listed, credentials())).toEqual(reachableWithOneClient());
    // The probe is an observer: it is not counted among the daemon's connections, and its connection is closed.
    expect(daemon.info().active).toBe(1);
    expect(opened).toHaveBeenCalledTimes(1);
    expect(opened.mock.calls[0]![1]).toBe(true);
    // Its own connection (an observer's), not the one of the ping above, which also closes about now.
    await vi.waitFor(() => expect(closed.mock.calls.filter(([connection]) => connection.observer)).toHaveLength(1));
    opened.mockRestore();
    closed.mockRestore();

    const other = await probeRecord(name, listed, credentials({ secret: Buffer.from('another secret, not the cluster one'), secretEnv: 'MY_SECRET' }));
    expect(other).toMatchObject({ status: 'refused', pid: null, state: null, connections: null, queued: null, callsServed: null });
    expect(other.detail).toMatch(/^another cluster secret than MY_SECRET's: .+/);
    // Another name: its key is derived from it, so the daemon cannot prove the one asked for.
    expect((await probeRecord(`${name}-x`, listed, credentials())).status).toBe('refused');

    expect(await probeRecord(name, listed, credentials({ secret: undefined, secretEnv: 'MY_SECRET' }))).toEqual({
      status: 'not probed',
      detail: 'not probed: set MY_SECRET (the cluster secret) to reach it',
      pid: null,
      state: null,
      connections: null,
      queued: null,
      callsServed: null,
    });

    // The whole command, as JSON: the daemon etcd records, probed with the secret from the environment.
    vi.stubEnv('LOOPBACK_SINGLETON_SECRET', SECRET);
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    try {
      expect(await runList({ root: '/unused', values: { registry: cluster.registry, json: true, timeout: '3000' }, positionals: [] })).toBe(0);
    } finally {
      write.mockRestore();
    }
    const { singletons } = JSON.parse(out.join('')) as { singletons: Array<{ name: string; probe: unknown }> };
    expect(singletons.find((entry) => entry.name === name)?.probe).toEqual(reachableWithOneClient());
    await counter[Symbol.asyncDispose]();
  });

  it('a TLS daemon: reachable with the TLS material, refused without it or with another CA', async () => {
    const name = uniqueName('probed-tls');
    const svc = clusterService(root, cluster.registry, name, { tls: material(certs.daemon, certs.ca) });
    await svc.ensureStarted();
    const port = Number((await svc.ping()).address.split(':')[1]);
    const listed = record('127.0.0.1', port);
    const tls = probeCredentials({ 'tls-cert': pem('client.pem'), 'tls-key': pem('client.key'), 'tls-ca': pem('ca.pem') }).tls;
    expect(await probeRecord(name, listed, credentials({ tls }))).toEqual({
      status: 'reachable',
      detail: null,
      pid: process.pid,
      state: 'serving.idle',
      connections: 0,
      queued: 0,
      callsServed: 0,
    });
    const plain = await probeRecord(name, listed, credentials());
    expect(plain.status).toBe('refused');
    expect(plain.detail).toBe(`The listener at 127.0.0.1:${port} refused the handshake without proving it is our daemon (ERR_HANDSHAKE: ${PLAIN_CLIENT_REFUSAL})`);
    const stranger = await probeRecord(name, listed, credentials({ tls: material(certs.otherClient, certs.otherCa) }));
    expect(stranger.status).toBe('refused');
    expect(stranger.detail).toMatch(/the daemon's certificate is not signed by the CA in `tls\.ca` \([A-Z_]+\)/);
  });

  it('an address that refuses the connection is unreachable; one that never answers is a timeout', async () => {
    const closed = await listener(() => {});
    const port = closed.port;
    closed.close();
    const refused = await probeRecord('gone', record('127.0.0.1', port), credentials());
    expect(refused).toMatchObject({ status: 'unreachable', pid: null, state: null, connections: null, queued: null, callsServed: null });
    expect(refused.detail).toMatch(/ECONNREFUSED/);

    const silent = await listener(() => {});
    try {
      expect(await probeRecord('silent', record('127.0.0.1', silent.port), credentials({ timeoutMs: 300 }))).toEqual({
        status: 'timeout',
        detail: 'no answer within 300 ms',
        pid: null,
        state: null,
        connections: null,
        queued: null,
        callsServed: null,
      });
    } finally {
      silent.close();
    }
  });
});
