/**
 * `loopback-singleton list --registry`: the CLI, as a process, reads the cluster singletons a
 * real 3-member etcd cluster records: the leader of each name and where it runs, its fencing
 * token, the daemons waiting behind it, a start under way, a record that is not one; probes
 * each serving daemon over its protocol with the cluster secret from the environment
 * (reachable with its live pid and state; not probed without the secret; refused with another
 * one; unreachable where nothing listens); and says what is wrong with a bad endpoint list,
 * bad probe options or an etcd that does not answer.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { parseRegistryEndpoints } from '../../src/registry/endpoints.js';
import { freshRoot } from '../support/daemon.js';
import { ETCD_MISSING, type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';
import { makeTestCerts, material } from '../support/certs.js';
import { COUNTER } from '../support/clients.js';
import { killDaemonsAtEnd, machines, SECRET, serviceOn } from './machines.js';
import { openRegistry, record, track, uniqueName } from './support.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');
const WAIT = { timeout: 20_000, interval: 20 };

/** The probe of a serving daemon when the CLI has no cluster secret. */
const NOT_PROBED = {
  status: 'not probed',
  detail: 'not probed: set LOOPBACK_SINGLETON_SECRET (the cluster secret) to reach it',
  pid: null,
  state: null,
  connections: null,
  queued: null,
  callsServed: null,
};

/** Runs the CLI, with `extraEnv` and without a cluster secret of the suite's own; resolves with its exit code and output whatever the code. */
async function cli(args: readonly string[], extraEnv: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, LOOPBACK_SINGLETON_RUNTIME_DIR: freshRoot(), ...extraEnv };
  if (!('LOOPBACK_SINGLETON_SECRET' in extraEnv)) delete env.LOOPBACK_SINGLETON_SECRET;
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { env, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code: number; stdout: string; stderr: string };
    return { code, stdout, stderr };
  }
}

describe('list --registry, without etcd', () => {
  it.each([
    ['127.0.0.1:2379', 'it does not start with `etcd://`'],
    ['http://127.0.0.1:2379', '`http://` is not a registry this package knows'],
    ['etcd://127.0.0.1:2379,,127.0.0.2', 'it has an empty entry'],
    ['etcd://127.0.0.1:99999', 'is not a number between 1 and 65535'],
  ])('a bad endpoint list (%s): exit 2, saying what is wrong', async (endpoints, reason) => {
    const { code, stderr, stdout } = await cli(['list', '--registry', endpoints]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('list: ');
    expect(stderr).toContain('`--registry`');
    expect(stderr).toContain(reason);
  });

  it.each([
    [['--registry', 'etcd://127.0.0.1:1', '--tls-cert', 'a.pem'], 'list: TLS needs all three of `--tls-cert`, `--tls-key` and `--tls-ca`'],
    [['--registry', 'etcd://127.0.0.1:1', '--secret-env', 'not a name'], 'list: expected `--secret-env` to name an environment variable'],
    [['--registry', 'etcd://127.0.0.1:1', '--tls-cert', '/nonexistent/a.pem', '--tls-key', 'b', '--tls-ca', 'c'], 'list: cannot read the file of `--tls-cert`'],
    [['--secret-env', 'X'], 'list: `--secret-env` goes with `--registry <endpoints>`'],
    [['--registry', 'etcd://127.0.0.1:1', '--timeout', '0'], 'expected `--timeout` to be a whole number of ms'],
  ])('bad probe options (%o): exit 2, saying what is wrong', async (args, message) => {
    const { code, stderr, stdout } = await cli(['list', ...args]);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain(message);
  });

  it('a secret shorter than 16 bytes: exit 2, naming the variable, never the secret', async () => {
    const { code, stderr } = await cli(['list', '--registry', 'etcd://127.0.0.1:1', '--secret-env', 'MY_SECRET'], { MY_SECRET: 'short-secret' });
    expect(code).toBe(2);
    expect(stderr).toContain('list: expected MY_SECRET to hold the cluster secret, at least 16 bytes, got 12 byte(s)');
    expect(stderr).not.toContain('short-secret');
  });

  it('an etcd that does not answer: exit 1, naming the endpoints', async () => {
    const { code, stderr } = await cli(['list', '--registry', 'etcd://127.0.0.1:1']);
    expect(code).toBe(1);
    expect(stderr).toMatch(
      /^loopback-singleton: list: etcd at etcd:\/\/127\.0\.0\.1:1 did not answer listing the cluster singletons: .+; check that etcd runs at those endpoints/,
    );
    // One line, which names what to check.
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  });
});

describe.skipIf(ETCD_MISSING !== undefined)(`list --registry on a real etcd cluster${ETCD_MISSING ? ` (${ETCD_MISSING})` : ''}`, () => {
  let cluster: EtcdCluster;
  beforeAll(async () => {
    cluster = await startEtcdCluster();
  });
  afterAll(() => cluster?.stop());

  it('an empty cluster: no singletons, as text and as JSON', async () => {
    const text = await cli(['list', '--registry', cluster.registry]);
    expect(text).toMatchObject({ code: 0, stdout: `no cluster singletons in ${cluster.registry}\n` });
    const json = await cli(['list', '--registry', cluster.registry, '--json']);
    expect(JSON.parse(json.stdout)).toEqual({ registry: cluster.registry, singletons: [] });
  });

  it('each name: its leader and where it runs, its fencing token, who waits, a start under way, a malformed record', async () => {
    const [alpha, beta, starting] = [uniqueName('alpha'), uniqueName('beta'), uniqueName('gamma')];
    const [a1, a2, b1, c1] = await Promise.all([
      openRegistry(cluster.registry, alpha),
      openRegistry(cluster.registry, alpha),
      openRegistry(cluster.registry, beta),
      openRegistry(cluster.registry, starting),
    ]);
    const leader = await a1.publish(record('127.0.0.2', 4100));
    // A second daemon of alpha waits behind the leader, its campaign recorded.
    const behind = track(a2.publish(record('127.0.0.3', 4200)));
    const onlyOne = await b1.publish(record('127.0.0.3', 4300));
    const right = await c1.acquireStartRight(undefined, new AbortController().signal);
    onTestFinished(() => right?.release());
    // A key of this package's shape whose value is no record.
    const etcd = new Etcd3({ hosts: [...parseRegistryEndpoints(cluster.registry).hosts] });
    onTestFinished(() => etcd.close());
    const broken = uniqueName('broken');
    await etcd.put(`loopback-singleton/election/${broken}/daemon/1`).value('{"not":"a record"}');

    const listed = async () => JSON.parse((await cli(['list', '--registry', cluster.registry, '--json'])).stdout).singletons as { name: string }[];
    // The waiting campaign's key is written once its lease is granted: asked again until it shows.
    await vi.waitFor(async () => expect((await listed()).find((s) => s.name === alpha)).toMatchObject({ waiting: 1 }), WAIT);
    const singletons = await listed();
    expect(singletons.map((s) => s.name)).toEqual([alpha, beta, broken, starting].sort((x, y) => x.localeCompare(y)));
    expect(singletons.find((s) => s.name === alpha)).toEqual({
      name: alpha,
      status: 'serving',
      record: leader.record,
      fencingToken: String(leader.fencingToken),
      waiting: 1,
      startInProgress: false,
      probe: NOT_PROBED,
    });
    expect(singletons.find((s) => s.name === beta)).toEqual({
      name: beta,
      status: 'serving',
      record: onlyOne.record,
      fencingToken: String(onlyOne.fencingToken),
      waiting: 0,
      startInProgress: false,
      probe: NOT_PROBED,
    });
    expect(singletons.find((s) => s.name === starting)).toEqual({ name: starting, status: 'starting', fencingToken: '', waiting: 0, startInProgress: true, probe: null });
    expect(singletons.find((s) => s.name === broken)).toMatchObject({ name: broken, status: 'malformed', reason: '`instanceId` is missing', waiting: 0 });
    expect(behind.state.status).toBe('pending');

    const { code, stdout } = await cli(['list', '--registry', cluster.registry]);
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines[0]).toBe(`registry: ${cluster.registry}`);
    expect(lines[1]).toMatch(/^NAME\s+STATUS\s+MACHINE\s+ADDRESS\s+PID\s+FENCING\s+WAITING\s+PROBE\s+STATE\s+CONNS\s+UPTIME\s+VERSION\s+NOTE$/);
    const row = (name: string) => lines.find((line) => line.startsWith(`${name} `))!.split(/\s{2,}/);
    expect(row(alpha).slice(0, 10)).toEqual([
      alpha,
      'serving',
      '127.0.0.2',
      '127.0.0.2:4100',
      String(process.pid),
      String(leader.fencingToken),
      '1',
      'not probed',
      '-',
      '-',
    ]);
    expect(row(alpha).at(-1)).toBe(NOT_PROBED.detail);
    expect(row(starting)).toEqual([starting, 'starting', '-', '-', '-', '-', '0', '-', '-', '-', '-', '-', 'start in progress']);
    expect(row(broken).at(-1)).toBe('malformed record: `instanceId` is missing');

    // With the secret, a record whose address nothing listens at: unreachable, saying why.
    const probed = JSON.parse((await cli(['list', '--registry', cluster.registry, '--json'], { LOOPBACK_SINGLETON_SECRET: SECRET })).stdout).singletons as {
      name: string;
      probe: { status: string; detail: string } | null;
    }[];
    expect(probed.find((s) => s.name === alpha)!.probe).toMatchObject({ status: 'unreachable', detail: expect.stringContaining('127.0.0.2:4100') });
    expect(probed.find((s) => s.name === starting)!.probe).toBeNull();

    // The leader gives its place up: the one waiting takes it, with a larger token.
    await leader.unpublish();
    const next = await behind.promise;
    const after = (await listed()).find((s) => s.name === alpha);
    expect(after).toMatchObject({ status: 'serving', record: next.record, fencingToken: String(next.fencingToken), waiting: 0 });
    expect(next.fencingToken > leader.fencingToken).toBe(true);
    await next.unpublish();
  });

  it('a live daemon is probed with the secret: reachable with its pid, state and connections; not probed without it; refused with another', async () => {
    const name = uniqueName('probed');
    const [machine] = machines(cluster.registry, 1, { idleTtlMs: 60_000 });
    killDaemonsAtEnd([machine!], name);
    const svc = serviceOn(machine!, name, COUNTER);
    onTestFinished(() => svc.shutdown());
    await using counter = await svc.proxy();
    await counter.inc();
    const { pid } = await svc.ping();
    const entry = async (env: Record<string, string>, ...args: string[]) => {
      const { code, stdout, stderr } = await cli(['list', '--registry', cluster.registry, '--json', ...args], env);
      expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
      return (JSON.parse(stdout).singletons as { name: string; probe: Record<string, unknown> }[]).find((s) => s.name === name)!;
    };

    const reached = await entry({ LOOPBACK_SINGLETON_SECRET: SECRET });
    // The CLI is an observer: the one connection it sees is the proxy's.
    expect(reached.probe).toMatchObject({ status: 'reachable', detail: null, pid, state: expect.stringMatching(/^serving/), connections: 1, queued: 0 });
    expect(reached.probe.callsServed).toBeGreaterThanOrEqual(1);
    // The variable --secret-env names, instead of the default one.
    expect((await entry({ CLUSTER_SECRET_OF_THE_TEST: SECRET }, '--secret-env', 'CLUSTER_SECRET_OF_THE_TEST')).probe).toMatchObject({ status: 'reachable', pid });

    expect((await entry({})).probe).toEqual(NOT_PROBED);

    const refused = await entry({ LOOPBACK_SINGLETON_SECRET: 'another secret, not the cluster one' });
    expect(refused.probe).toMatchObject({ status: 'refused', pid: null, state: null });
    expect(refused.probe.detail).toMatch(/^another cluster secret than LOOPBACK_SINGLETON_SECRET's: /);

    // As text: the probe's columns, and the refusal in NOTE.
    const text = await cli(['list', '--registry', cluster.registry], { LOOPBACK_SINGLETON_SECRET: SECRET });
    const row = text.stdout
      .split('\n')
      .find((line) => line.startsWith(`${name} `))!
      .split(/\s{2,}/);
    expect(row.slice(7, 10)).toEqual(['reachable', reached.probe.state, '1']);
    expect(row[4]).toBe(String(pid));
    // The daemon was still there for each look.
    expect((await svc.ping()).pid).toBe(pid);
  });

  it('a daemon over TLS: reachable with the three --tls-* files; refused without them, saying it takes TLS only', { timeout: 60_000 }, async () => {
    const certs = makeTestCerts();
    const name = uniqueName('tls-probed');
    // On 127.0.0.2, an address in the daemon certificate's SANs.
    const machine = machines(cluster.registry, 2, { tls: material(certs.daemon, certs.ca) })[1]!;
    killDaemonsAtEnd([machine], name);
    const svc = serviceOn(machine, name, COUNTER);
    onTestFinished(() => svc.shutdown());
    const { pid } = await svc.ping();
    const dir = freshRoot();
    const files = { cert: join(dir, 'client.pem'), key: join(dir, 'client-key.pem'), ca: join(dir, 'ca.pem') };
    writeFileSync(files.cert, certs.client.cert);
    writeFileSync(files.key, certs.client.key);
    writeFileSync(files.ca, certs.ca);
    const probeOf = async (...args: string[]) => {
      const { stdout } = await cli(['list', '--registry', cluster.registry, '--json', ...args], { LOOPBACK_SINGLETON_SECRET: SECRET });
      return (JSON.parse(stdout).singletons as { name: string; probe: Record<string, unknown> }[]).find((s) => s.name === name)!.probe;
    };

    expect(await probeOf('--tls-cert', files.cert, '--tls-key', files.key, '--tls-ca', files.ca)).toMatchObject({ status: 'reachable', pid });
    expect(await probeOf()).toMatchObject({ status: 'refused', detail: expect.stringContaining('takes TLS connections only') });
  });

  it('a daemon that accepts the connection but never answers: timeout, within --timeout', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    onTestFinished(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    });
    const name = uniqueName('silent');
    const registry = await openRegistry(cluster.registry, name);
    const place = await registry.publish(record('127.0.0.1', (silent.address() as { port: number }).port));
    onTestFinished(() => place.unpublish());

    const { stdout } = await cli(['list', '--registry', cluster.registry, '--json', '--timeout', '300'], { LOOPBACK_SINGLETON_SECRET: SECRET });
    const entry = (JSON.parse(stdout).singletons as { name: string; probe: unknown }[]).find((s) => s.name === name)!;
    expect(entry.probe).toMatchObject({ status: 'timeout', detail: 'no answer within 300 ms', pid: null });
  });
});
