/**
 * `loopback-singleton list --registry`: the CLI, as a process, reads the cluster singletons a
 * real 3-member etcd cluster records: the leader of each name and where it runs, its fencing
 * token, the daemons waiting behind it, a start under way, a record that is not one; and says
 * what is wrong with a bad endpoint list or an etcd that does not answer.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { parseRegistryEndpoints } from '../../src/registry/endpoints.js';
import { freshRoot } from '../support/daemon.js';
import { ETCD_MISSING, type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';
import { openRegistry, record, track, uniqueName } from './support.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'src', 'cli', 'main.js');
const WAIT = { timeout: 20_000, interval: 20 };

/** Runs the CLI; resolves with its exit code and output whatever the code. */
async function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env, LOOPBACK_SINGLETON_RUNTIME_DIR: freshRoot() };
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
    });
    expect(singletons.find((s) => s.name === beta)).toEqual({
      name: beta,
      status: 'serving',
      record: onlyOne.record,
      fencingToken: String(onlyOne.fencingToken),
      waiting: 0,
      startInProgress: false,
    });
    expect(singletons.find((s) => s.name === starting)).toEqual({ name: starting, status: 'starting', fencingToken: '', waiting: 0, startInProgress: true });
    expect(singletons.find((s) => s.name === broken)).toMatchObject({ name: broken, status: 'malformed', reason: '`instanceId` is missing', waiting: 0 });
    expect(behind.state.status).toBe('pending');

    const { code, stdout } = await cli(['list', '--registry', cluster.registry]);
    expect(code).toBe(0);
    const lines = stdout.split('\n');
    expect(lines[0]).toBe(`registry: ${cluster.registry}`);
    expect(lines[1]).toMatch(/^NAME\s+STATUS\s+MACHINE\s+ADDRESS\s+PID\s+FENCING\s+WAITING\s+UPTIME\s+VERSION\s+NOTE$/);
    const row = (name: string) => lines.find((line) => line.startsWith(`${name} `))!.split(/\s{2,}/);
    expect(row(alpha).slice(0, 7)).toEqual([alpha, 'serving', '127.0.0.2', '127.0.0.2:4100', String(process.pid), String(leader.fencingToken), '1']);
    expect(row(starting)).toEqual([starting, 'starting', '-', '-', '-', '-', '0', '-', '-', 'start in progress']);
    expect(row(broken).at(-1)).toBe('malformed record: `instanceId` is missing');

    // The leader gives its place up: the one waiting takes it, with a larger token.
    await leader.unpublish();
    const next = await behind.promise;
    const after = (await listed()).find((s) => s.name === alpha);
    expect(after).toMatchObject({ status: 'serving', record: next.record, fencingToken: String(next.fencingToken), waiting: 0 });
    expect(next.fencingToken > leader.fencingToken).toBe(true);
    await next.unpublish();
  });
});
