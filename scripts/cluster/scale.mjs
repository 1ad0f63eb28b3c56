// How many cluster singletons one etcd cluster holds: a measurement for docs/CLUSTER-SCALE.md,
// run by hand (not in CI). Usage, from the repo root, after `npm run build`:
//   node scripts/cluster/scale.mjs [--sizes 100,250,500,1000] [--window 10] [--json]
// It starts a 3-member etcd cluster like the tests' (./etcd.mjs), then grows the number of
// singletons N step by step. Each singleton is what one daemon holds, made by the package's
// own registry (dist/src/registry/etcd.js): its own etcd client, a campaign under a lease of
// the default TTL (5 s, renewed every TTL / 3 by etcd3), its election key, and the watch its
// publication keeps on the election. At each step, after the new ones are published and a
// settle of 3 s, it measures over `--window` seconds: each member's RSS (VmRSS) and CPU (from
// /proc/<pid>/stat), the keepalive round trip (etcd3's `keepaliveFired` to its
// `keepaliveSucceeded`, per lease) p50/p99, this process's RSS and CPU, raft proposals/s, and
// what the members report (/metrics: watch streams, watchers, db size). Then it prints a
// table (or one JSON object with --json), revokes every lease and stops the cluster.
// All N run in this one process; in a real cluster each daemon is its own process, so this
// process's figures are the per-singleton client cost, times N.
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { intFlag, parseFlags, usageError } from '../lib/flags.mjs';
import { findEtcd, memberGet, startCluster } from './etcd.mjs';

const SCRIPT = 'scripts/cluster/scale.mjs';
const USAGE = `usage: node ${SCRIPT} [--sizes 100,250,500,1000] [--window <seconds, default 10>] [--concurrency <publishes at once, default 16>] [--json]`;
const flags = parseFlags(SCRIPT, USAGE, {
  sizes: { type: 'string', default: '100,250,500,1000' },
  window: { type: 'string', default: '10' },
  concurrency: { type: 'string', default: '16' },
  json: { type: 'boolean', default: false },
});
const sizes = flags.sizes.split(',').map((raw) => intFlag(SCRIPT, USAGE, raw.trim(), '--sizes', 100_000));
if (sizes.some((n, i) => i > 0 && n <= sizes[i - 1])) usageError(SCRIPT, USAGE)('--sizes must grow');
const windowS = intFlag(SCRIPT, USAGE, flags.window, '--window', 600);
const concurrency = intFlag(SCRIPT, USAGE, flags.concurrency, '--concurrency', 256);
const etcdBinary = findEtcd();
if (etcdBinary === undefined) usageError(SCRIPT, USAGE)('etcd is not installed (apt-get install etcd-server)');

const log = (line) => process.stderr.write(`${line}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// The package's registry (after a build), and etcd3 itself: the same module instance the
// registry loads, so that its Lease's keepalive events can be timed here without touching src/.
const { openEtcdRegistry } = await import('../../dist/src/registry/etcd.js').catch(() => {
  usageError(SCRIPT, USAGE)('dist/ is missing: run `npm run build` first');
});
const { parseRegistryEndpoints } = await import('../../dist/src/registry/endpoints.js');
const etcd3 = await import('etcd3');
const Lease = (etcd3.Lease ?? etcd3.default.Lease).prototype;

/** Keepalive round trips (ms) while `recording`; renewals sent and not answered yet, per lease. */
const timing = { recording: false, rtts: [], renewalsFailed: 0, sent: new WeakMap() };
const emit = Lease.emit;
Lease.emit = function (event, ...args) {
  if (event === 'keepaliveFired') {
    const queue = timing.sent.get(this) ?? [];
    queue.push(performance.now());
    timing.sent.set(this, queue);
  } else if (event === 'keepaliveSucceeded') {
    const sentAt = timing.sent.get(this)?.shift();
    if (timing.recording && sentAt !== undefined) timing.rtts.push(performance.now() - sentAt);
  } else if (event === 'keepaliveEstablished' || event === 'keepaliveFailed') {
    timing.sent.set(this, []);
    if (event === 'keepaliveFailed') timing.renewalsFailed++;
  }
  return emit.call(this, event, ...args);
};

const TICKS = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s on Linux

/** CPU time of `pid` so far, in seconds (utime + stime). */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /s, '')
    .split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

/** VmRSS of `pid`, MiB. */
function rssMiB(pid) {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** The value of the Prometheus metric `name` (summed over its label sets) in `text`. */
function metric(text, name) {
  let sum = 0;
  let found = false;
  for (const match of (text ?? '').matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))) {
    sum += Number(match[1]);
    found = true;
  }
  return found ? sum : Number.NaN;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

const cluster = await startCluster(etcdBinary);
const endpoints = parseRegistryEndpoints(cluster.text);
/** Every singleton held: `{ registry, publication }`. */
const held = [];
let lost = 0;
let stopping;

async function stopAll() {
  stopping ??= (async () => {
    timing.recording = false;
    for (let i = 0; i < held.length; i += 64) await Promise.all(held.slice(i, i + 64).map(({ registry }) => registry.close().catch(() => {})));
    await cluster.stop();
  })();
  return stopping;
}
process.once('SIGINT', () => {
  log('interrupted: revoking the leases and stopping the cluster');
  void stopAll().then(() => process.exit(130));
});

/** Publishes singleton number `i`: what one daemon does when it takes its place. */
async function publishOne(i) {
  const name = `scale-${i}`;
  const registry = await openEtcdRegistry({ endpoints, name });
  const record = {
    instanceId: `scale-${process.pid}-${i}`,
    host: '127.0.0.1',
    port: 1 + (i % 65535),
    factoryId: 'scale',
    protocolVersion: 2,
    packageVersion: '0.1.0',
    pid: process.pid,
    machine: 'scale',
    startedAt: Date.now(),
  };
  const publication = await registry.publish(record);
  publication.onLost(() => lost++);
  held.push({ registry, publication });
}

const rows = [];
log(`etcd cluster up (${cluster.members.map((m) => `${m.name} pid ${m.pid}`).join(', ')}); load average ${loadavg()[0].toFixed(1)} on ${cpus().length} cores`);
try {
  for (const target of sizes) {
    const before = held.length;
    const started = performance.now();
    let next = before;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < target) await publishOne(next++);
      }),
    );
    const publishS = (performance.now() - started) / 1000;
    log(`N=${target}: ${target - before} published in ${publishS.toFixed(1)} s; settling`);
    await sleep(3000);

    const metricsBefore = await Promise.all(cluster.members.map((m) => memberGet(m.clientPort, '/metrics')));
    const cpuBefore = [...cluster.members.map((m) => cpuSeconds(m.pid)), cpuSeconds(process.pid)];
    timing.rtts = [];
    const failedBefore = timing.renewalsFailed;
    timing.recording = true;
    const t0 = performance.now();
    await sleep(windowS * 1000);
    timing.recording = false;
    const elapsed = (performance.now() - t0) / 1000;
    const cpuAfter = [...cluster.members.map((m) => cpuSeconds(m.pid)), cpuSeconds(process.pid)];
    const metricsAfter = await Promise.all(cluster.members.map((m) => memberGet(m.clientPort, '/metrics')));
    const cpuPct = cpuAfter.map((after, i) => (100 * (after - cpuBefore[i])) / elapsed);
    const rtts = timing.rtts.sort((a, b) => a - b);
    const leader = metricsAfter.findIndex((text) => metric(text, 'etcd_server_is_leader') === 1);
    const proposals = (metric(metricsAfter[0], 'etcd_server_proposals_committed_total') - metric(metricsBefore[0], 'etcd_server_proposals_committed_total')) / elapsed;
    const row = {
      n: target,
      publishPerS: (target - before) / publishS,
      etcdRssMiB: cluster.members.map((m) => rssMiB(m.pid)),
      etcdCpuPct: cpuPct.slice(0, 3),
      leader,
      keepalivesPerS: rtts.length / elapsed,
      rttP50Ms: percentile(rtts, 50),
      rttP99Ms: percentile(rtts, 99),
      rttMaxMs: rtts.at(-1) ?? Number.NaN,
      clientRssMiB: rssMiB(process.pid),
      clientCpuPct: cpuPct[3],
      proposalsPerS: proposals,
      watchStreams: metricsAfter.map((text) => metric(text, 'etcd_debugging_mvcc_watch_stream_total')),
      watchers: metricsAfter.map((text) => metric(text, 'etcd_debugging_mvcc_watcher_total')),
      dbMiB: metric(metricsAfter[0], 'etcd_mvcc_db_total_size_in_bytes') / 2 ** 20,
      renewalsFailed: timing.renewalsFailed - failedBefore,
      lost,
      load1: loadavg()[0],
    };
    rows.push(row);
    log(
      `N=${target}: etcd RSS ${row.etcdRssMiB.map((v) => v.toFixed(0)).join('/')} MiB, CPU ${row.etcdCpuPct.map((v) => v.toFixed(0)).join('/')} % (leader m${leader}); keepalive ${row.keepalivesPerS.toFixed(0)}/s p50 ${row.rttP50Ms.toFixed(1)} p99 ${row.rttP99Ms.toFixed(1)} ms; client ${row.clientRssMiB.toFixed(0)} MiB ${row.clientCpuPct.toFixed(0)} %; lost ${lost}`,
    );
  }
} finally {
  await stopAll();
}

if (flags.json) {
  process.stdout.write(`${JSON.stringify({ date: new Date().toISOString(), node: process.version, cores: cpus().length, windowS, rows })}\n`);
} else {
  const f = (v, d = 0) => (Number.isFinite(v) ? v.toFixed(d) : '-');
  const lines = [
    '| N | publish/s | etcd RSS MiB (m0/m1/m2) | etcd CPU % (m0/m1/m2) | keepalives/s | RTT p50 / p99 / max ms | client RSS MiB | client CPU % | proposals/s | watch streams / watchers (all members) | db MiB | lost |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.n} | ${f(r.publishPerS)} | ${r.etcdRssMiB.map((v) => f(v)).join(' / ')} | ${r.etcdCpuPct.map((v, i) => `${f(v)}${i === r.leader ? '*' : ''}`).join(' / ')} | ${f(r.keepalivesPerS)} | ${f(r.rttP50Ms, 1)} / ${f(r.rttP99Ms, 1)} / ${f(r.rttMaxMs, 0)} | ${f(r.clientRssMiB)} | ${f(r.clientCpuPct)} | ${f(r.proposalsPerS)} | ${f(r.watchStreams.reduce((a, b) => a + b, 0))} / ${f(r.watchers.reduce((a, b) => a + b, 0))} | ${f(r.dbMiB, 1)} | ${r.lost} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n(* the etcd leader; ${windowS} s windows; ${cpus().length} cores; load average at the end ${loadavg()[0].toFixed(1)})\n`);
}
process.exit(lost > 0 ? 1 : 0);
