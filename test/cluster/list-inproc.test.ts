/**
 * `loopback-singleton list --registry` in this process (src/cli/list-cluster.ts and
 * src/registry/etcd-list.ts) against a real 3-member etcd cluster whose keys the test writes:
 * the table and the JSON it prints, and its errors. ./list.test.ts runs the same command as a
 * process; this file lets a mutant of the listing be seen.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CliFailure, UsageError } from '../../src/cli/args.js';
import { runCluster } from '../../src/cli/list-cluster.js';
import { run as runList } from '../../src/cli/list.js';
import type { ProbeCredentials } from '../../src/cli/probe-cluster.js';
import { parseRegistryEndpoints } from '../../src/registry/endpoints.js';
import { listEtcdSingletons } from '../../src/registry/etcd-list.js';
import { encodeRecord } from '../../src/registry/record.js';
import { ETCD_MISSING, type EtcdCluster, startEtcdCluster } from '../support/etcd-cluster.js';
import { record, uniqueName } from './support.js';

/** No secret: the listed daemons are not probed (./list.test.ts probes real ones). */
const NO_SECRET: ProbeCredentials = { secret: undefined, secretEnv: 'LOOPBACK_SINGLETON_SECRET', tls: undefined, timeoutMs: 500 };

/** What `runCluster` printed and returned. */
async function listed(registry: string, json: boolean, now?: number): Promise<{ code: number; stdout: string }> {
  const out: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  try {
    const code = await runCluster(registry, json, NO_SECRET, now);
    return { code, stdout: out.join('') };
  } finally {
    write.mockRestore();
  }
}

describe('list --registry in this process, without etcd', () => {
  it('a bad endpoint list is a usage error that says what is wrong', async () => {
    const error = await runCluster('http://127.0.0.1:2379', false, NO_SECRET).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toMatch(/^list: .*`--registry`.*`http:\/\/` is not a registry this package knows/);
  });

  it('plain list hands --registry to the cluster listing, with --json', async () => {
    const error = await runList({ root: '/unused', values: { registry: 'etcd://127.0.0.1:1', json: true }, positionals: [] }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CliFailure);
    expect((error as Error).message).toMatch(/^list: etcd at etcd:\/\/127\.0\.0\.1:1 did not answer listing the cluster singletons: /);
  });

  it('an etcd that does not answer: a failure naming the endpoints, its cause kept', async () => {
    const endpoints = parseRegistryEndpoints('etcd://127.0.0.1:1');
    const error = await listEtcdSingletons(endpoints, 300).catch((caught: unknown) => caught);
    expect((error as Error).message).toMatch(/^etcd at etcd:\/\/127\.0\.0\.1:1 did not answer listing the cluster singletons: ./);
    expect((error as Error).cause).toBeInstanceOf(Error);
    const failure = await runCluster('etcd://127.0.0.1:1', true, NO_SECRET).catch((caught: unknown) => caught);
    expect(failure).toBeInstanceOf(CliFailure);
    expect((failure as Error).message).toMatch(/^list: etcd at etcd:\/\/127\.0\.0\.1:1 did not answer listing the cluster singletons: /);
  });
});

describe.skipIf(ETCD_MISSING !== undefined)(`list --registry in this process, on a real etcd cluster${ETCD_MISSING ? ` (${ETCD_MISSING})` : ''}`, () => {
  let cluster: EtcdCluster;
  let etcd: Etcd3;
  beforeAll(async () => {
    cluster = await startEtcdCluster();
    etcd = new Etcd3({ hosts: [...parseRegistryEndpoints(cluster.registry).hosts] });
  });
  afterAll(async () => {
    etcd?.close();
    await cluster?.stop();
  });

  it('an empty cluster: no singletons, as text and as JSON', async () => {
    expect(await listed(cluster.registry, false)).toEqual({ code: 0, stdout: `no cluster singletons in ${cluster.registry}\n` });
    const json = await listed(cluster.registry, true);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({ registry: cluster.registry, singletons: [] });
  });

  it('per name: the first campaign leads, the others wait, a start key, a malformed record; other keys ignored', async () => {
    const [alpha, beta, gamma, broken] = [uniqueName('alpha'), uniqueName('beta'), uniqueName('gamma'), uniqueName('broken')];
    const root = etcd.namespace('loopback-singleton/');
    const leader = { ...record('127.0.0.2', 4100), startedAt: 1_000_000 };
    const led = await root.put(`election/${alpha}/daemon/7`).value(encodeRecord(leader));
    await root.put(`election/${alpha}/daemon/3`).value(encodeRecord(record('127.0.0.3', 4200)));
    await root.put(`election/${alpha}/daemon/9`).value('not even JSON');
    await root.put(`election/${alpha}/start/5`).value('');
    const only = { ...record('127.0.0.4', 4300), packageVersion: '9.9.9' };
    const onlyPut = await root.put(`election/${beta}/daemon/1`).value(encodeRecord(only));
    await root.put(`election/${gamma}/start/2`).value('');
    const brokenPut = await root.put(`election/${broken}/daemon/4`).value('{"not":"a record"}');
    // Not keys of the listing's shape: ignored.
    await root.put(`election/${alpha}/other/1`).value('x');
    await root.put(`election/${alpha}/daemon/1/deeper`).value('x');
    await etcd.put(`election/${alpha}/daemon/8`).value('outside the namespace');

    const json = await listed(cluster.registry, true);
    // Without the secret, a serving daemon is listed and not probed, saying how to probe it.
    const detail = 'not probed: set LOOPBACK_SINGLETON_SECRET (the cluster secret) to reach it';
    const notProbed = { status: 'not probed', detail, pid: null, state: null, connections: null, queued: null, callsServed: null };
    const { registry, singletons } = JSON.parse(json.stdout) as { registry: string; singletons: { name: string }[] };
    expect(registry).toBe(cluster.registry);
    expect(singletons).toEqual(
      [
        { name: alpha, status: 'serving', record: leader, fencingToken: led.header.revision, waiting: 2, startInProgress: true, probe: notProbed },
        { name: beta, status: 'serving', record: only, fencingToken: onlyPut.header.revision, waiting: 0, startInProgress: false, probe: notProbed },
        {
          name: broken,
          status: 'malformed',
          reason: '`instanceId` is missing',
          fencingToken: brokenPut.header.revision,
          waiting: 0,
          startInProgress: false,
          probe: null,
        },
        { name: gamma, status: 'starting', fencingToken: '', waiting: 0, startInProgress: true, probe: null },
      ].sort((a, b) => a.name.localeCompare(b.name)),
    );

    const text = await listed(cluster.registry, false, 1_000_000 + 65_000);
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toBe(`registry: ${cluster.registry}`);
    expect(lines[1]!.split(/\s{2,}/)).toEqual([
      'NAME',
      'STATUS',
      'MACHINE',
      'ADDRESS',
      'PID',
      'FENCING',
      'WAITING',
      'PROBE',
      'STATE',
      'CONNS',
      'UPTIME',
      'VERSION',
      'NOTE',
    ]);
    const row = (name: string) =>
      lines
        .find((line) => line.startsWith(`${name} `))!
        .trimEnd()
        .split(/\s{2,}/);
    expect(row(alpha)).toEqual([
      alpha,
      'serving',
      '127.0.0.2',
      '127.0.0.2:4100',
      String(process.pid),
      led.header.revision,
      '2',
      'not probed',
      '-',
      '-',
      '1m05s',
      '0.1.0',
      `start in progress; ${detail}`,
    ]);
    // A leader whose start lies in the future (another machine's clock) has been up for 0.
    expect(
      (await listed(cluster.registry, false, 0)).stdout
        .split('\n')
        .find((line) => line.startsWith(`${beta} `))!
        .split(/\s{2,}/),
    ).toEqual([beta, 'serving', '127.0.0.4', '127.0.0.4:4300', String(process.pid), onlyPut.header.revision, '0', 'not probed', '-', '-', '0ms', '9.9.9', detail]);
    expect(row(gamma)).toEqual([gamma, 'starting', '-', '-', '-', '-', '0', '-', '-', '-', '-', '-', 'start in progress']);
    expect(row(broken)).toEqual([
      broken,
      'malformed',
      '-',
      '-',
      '-',
      brokenPut.header.revision,
      '0',
      '-',
      '-',
      '-',
      '-',
      '-',
      'malformed record: `instanceId` is missing',
    ]);
    expect(text.stdout.endsWith('\n')).toBe(true);
  });
});
