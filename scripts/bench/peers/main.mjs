// `npm run bench -- --peers [--quick] [--json]`: the library against what a user would pick
// instead to share a counter between local processes, each peer hosting the same counter and
// echo, measured in one run: Redis (redis-server, started here on a free port and a Unix
// socket; ioredis and node-redis, each on both), node:http with an undici Pool, and Python's
// multiprocessing.managers; beside them, as a reference and not a peer, the raw Node echo of
// `npm run bench` (the limit of any daemon written in Node). Every figure is the median of its repetitions after a warm-up,
// the sides interleaved (each repetition runs every side once, the starting side rotating),
// so that the drift of a shared machine hits all of them. A peer whose server is missing
// (redis-server, python3) is skipped with one line on stderr.
//
// PEERS_ROWS=echo65536,echo1048576 (env) runs only those figures, for an A/B of one change:
// seq, pipelined, echo1024, echo65536, echo1048576, processes, connectMs, newProcessMs, rss.
import { rssMiB, nodeSide, pythonSide } from './sides.mjs';
import { startHttp, startNodeEcho, startPython, startRedis } from './servers.mjs';

/** Calls in flight on one client in the pipelined figure. */
const DEPTH = 64;
const PROCESSES = 4;
const RSS_CALLS = 100_000;
const ECHO_SIZES = [1024, 64 * 1024, 1024 * 1024];
/** The figures to run (env PEERS_ROWS), or all of them. */
const ONLY = process.env.PEERS_ROWS ? new Set(process.env.PEERS_ROWS.split(',').map((row) => row.trim())) : null;
const runs = (row) => ONLY === null || ONLY.has(row);

const PLANS = {
  full: {
    seq: { warmup: 1000, reps: 7, calls: 3000 },
    pipelined: { warmup: 5000, reps: 7, calls: 20_000 },
    echo: { 1024: { warmup: 300, reps: 7, calls: 2000 }, 65536: { warmup: 50, reps: 7, calls: 300 }, 1048576: { warmup: 5, reps: 7, calls: 30 } },
    processes: { warmup: 1, reps: 5, calls: 1500 },
    connect: { warmup: 3, reps: 21 },
    newProcess: { warmup: 1, reps: 5 },
  },
  quick: {
    seq: { warmup: 300, reps: 3, calls: 1000 },
    pipelined: { warmup: 2000, reps: 3, calls: 5000 },
    echo: { 1024: { warmup: 100, reps: 3, calls: 500 }, 65536: { warmup: 20, reps: 3, calls: 100 }, 1048576: { warmup: 2, reps: 3, calls: 10 } },
    processes: { warmup: 1, reps: 2, calls: 500 },
    connect: { warmup: 2, reps: 5 },
    newProcess: { warmup: 1, reps: 2 },
  },
};

/** The sides, in the table's order: [key, label, transport ('tcp' | 'unix')]. */
const SIDES = [
  ['libraryTcp', 'ours tcp', 'tcp'],
  ['libraryIpc', 'ours ipc', 'unix'],
  ['ioredisTcp', 'ioredis tcp', 'tcp'],
  ['ioredisUnix', 'ioredis unix', 'unix'],
  ['nodeRedisTcp', 'node-redis tcp', 'tcp'],
  ['nodeRedisUnix', 'node-redis unix', 'unix'],
  ['undici', 'http undici', 'tcp'],
  ['python', 'py managers', 'tcp'],
  ['nodeEchoTcp', 'node echo tcp', 'tcp'],
  ['nodeEchoUnix', 'node echo unix', 'unix'],
];

/** The side whose server's RSS the table shows, by side: [side key] -> server. */
const SERVER_OF_SIDE = { libraryTcp: 'libraryTcp', nodeRedisTcp: 'redis', undici: 'http', python: 'python' };

/**
 * Sides that are no peer: the raw Node echo of `npm run bench`, the limit of a daemon written in
 * Node (framing and MessagePack over one socket, nothing else). Shown, never a lead's best peer.
 */
const REFERENCES = new Set(['nodeEchoTcp', 'nodeEchoUnix']);

/**
 * Runs `measure(side)` for every side `reps` times after `warmup` runs, interleaved; returns
 * each side's values (null values, a figure the side cannot make, are dropped).
 */
async function interleave(sides, { warmup, reps }, measure) {
  const keys = Object.keys(sides);
  for (let i = 0; i < warmup; i++) for (const key of keys) await measure(sides[key]);
  const values = Object.fromEntries(keys.map((key) => [key, []]));
  for (let rep = 0; rep < reps; rep++) {
    for (let i = 0; i < keys.length; i++) {
      const key = keys[(rep + i) % keys.length];
      const value = await measure(sides[key]);
      if (value !== null) values[key].push(value);
    }
  }
  return values;
}

/** Runs the peers' figures. `h`: the bench's helpers (main.mjs), `quick`: the smoke plan. */
export async function runPeers(h, quick) {
  const plan = quick ? PLANS.quick : PLANS.full;
  const t0 = performance.now();
  const servers = [];
  const skipped = [];
  const options = { track: h.track, withDeadline: h.withDeadline, deadlineMs: h.deadlineMs, depth: DEPTH };
  try {
    return await h.withRuntimeDir((tcpDir) =>
      h.withRuntimeDir(async (ipcDir) => {
        const library = (runtimeDir, transport) => ({ kind: 'library', name: h.name, factory: h.factory, runtimeDir, transport, idleTtlMs: h.idleTtlMs });
        const specs = { libraryTcp: library(tcpDir, 'tcp'), libraryIpc: library(ipcDir, 'ipc') };
        const pids = {};
        // Each peer's server: [key, start, what, the line when it is absent (undefined: never)].
        const starts = [
          ['redis', startRedis, 'redis-server', 'Redis: no redis-server (apt-get install redis-server, or set REDIS_SERVER)'],
          ['http', startHttp, 'the HTTP server'],
          ['python', startPython, 'the Python managers server', 'Python managers: no python3 on PATH'],
          ['echo', startNodeEcho, 'the Node echo servers'],
        ];
        const started = {};
        for (const [key, start, what, absent] of starts) {
          const server = await h.withDeadline(start(h.track), h.deadlineMs, what);
          if (!server) {
            skipped.push(absent);
            continue;
          }
          servers.push(server);
          Object.assign(specs, server.peers);
          pids[key] = server.pid;
          started[key] = server;
        }
        const { redis, python } = started;
        for (const line of skipped) h.progress(`peers: skipped ${line}`);

        const sides = {};
        for (const [key] of SIDES) {
          if (!specs[key]) continue;
          sides[key] = await (key === 'python' ? pythonSide(specs[key], options) : nodeSide(specs[key], options));
        }
        const perSec = (calls) => (seconds) => (seconds === null ? null : calls / seconds);
        const figures = {};
        if (runs('seq')) {
          h.progress(`peers: sequential calls (${plan.seq.reps} x ${plan.seq.calls} per side)`);
          figures.seq = await interleave(sides, { warmup: 1, reps: plan.seq.reps }, async (side) => perSec(plan.seq.calls)(await side.seq(plan.seq.calls)));
        }
        if (runs('pipelined')) {
          h.progress(`peers: ${DEPTH} calls in flight (${plan.pipelined.reps} x ${plan.pipelined.calls} per side)`);
          figures.pipelined = await interleave(sides, { warmup: 1, reps: plan.pipelined.reps }, async (side) =>
            perSec(plan.pipelined.calls)(await side.pipelined(plan.pipelined.calls)),
          );
        }
        for (const size of ECHO_SIZES) {
          if (!runs(`echo${size}`)) continue;
          const p = plan.echo[size];
          h.progress(`peers: echo ${size} B strings (${p.reps} x ${p.calls} per side)`);
          figures[`echo${size}`] = await interleave(sides, { warmup: 1, reps: p.reps }, async (side) => perSec(p.calls)(await side.echo(size, p.calls)));
        }
        if (runs('processes')) {
          h.progress(`peers: ${PROCESSES} client processes (${plan.processes.reps} rounds x ${plan.processes.calls} calls each per side)`);
          const fleets = {};
          for (const [key, side] of Object.entries(sides)) fleets[key] = await side.processes(PROCESSES);
          figures.processes = await interleave(fleets, { warmup: plan.processes.warmup, reps: plan.processes.reps }, async (fleet) =>
            perSec(PROCESSES * plan.processes.calls)(await fleet.round(plan.processes.calls)),
          );
          for (const fleet of Object.values(fleets)) fleet.stop();
        }
        if (runs('connectMs')) {
          h.progress(`peers: new client in this process, to its first reply (${plan.connect.reps} per side)`);
          figures.connectMs = await interleave(sides, plan.connect, (side) => side.connect());
        }
        if (runs('newProcessMs')) {
          h.progress(`peers: new process, to its first reply (${plan.newProcess.reps} per side)`);
          figures.newProcessMs = await interleave(sides, plan.newProcess, (side) => side.newProcess());
        }

        const rss = {};
        if (runs('rss')) h.progress(`peers: server memory after ${RSS_CALLS} more calls each`);
        for (const [key, server] of Object.entries(SERVER_OF_SIDE)) {
          if (!sides[key] || !runs('rss')) continue;
          if (key === 'python') await sides.python.seq(RSS_CALLS);
          else await sides[key].pipelined(RSS_CALLS);
          if (server === 'libraryTcp') pids.libraryTcp = (await h.ping(tcpDir)).pid;
          rss[server] = rssMiB(pids[server]);
        }
        for (const side of Object.values(sides)) await side.close();
        return report({ figures, rss, sides: Object.keys(sides), skipped, plan, redis, python, quick, durationMs: performance.now() - t0 }, h);
      }),
    );
  } finally {
    for (const server of servers) server.stop();
  }
}

const MIB = 1024 * 1024;

function report({ figures, rss, sides, skipped, plan, redis, python, quick, durationMs }, h) {
  const med = (values) => (values && values.length > 0 ? h.median(values) : null);
  const rows = [
    { key: 'seq', label: 'sequential, calls/s', unit: 'calls/s', higher: true },
    { key: 'pipelined', label: `${DEPTH} in flight, calls/s`, unit: 'calls/s', higher: true },
    { key: 'processes', label: `${PROCESSES} processes, calls/s`, unit: 'calls/s', higher: true },
    ...ECHO_SIZES.map((size) => ({
      key: `echo${size}`,
      label: `echo ${size >= MIB ? `${size / MIB} MiB` : `${size / 1024} KiB`}, calls/s (MiB/s)`,
      unit: 'calls/s',
      higher: true,
      size,
    })),
    { key: 'connectMs', label: 'new client, ms', unit: 'ms', higher: false },
    { key: 'newProcessMs', label: 'new process, ms', unit: 'ms', higher: false },
  ];
  // Only the figures that ran (PEERS_ROWS).
  const table = rows
    .filter((row) => figures[row.key] !== undefined)
    .map((row) => {
      const medians = Object.fromEntries(sides.map((key) => [key, med(figures[row.key][key])]));
      // lead >= 1: the library leads; per transport, against the best peer on the same one.
      const lead = (ours, transport) => {
        const peers = SIDES.filter(([key, , t]) => t === transport && !key.startsWith('library') && !REFERENCES.has(key) && medians[key] != null).map(([key]) => [
          key,
          medians[key],
        ]);
        if (peers.length === 0 || medians[ours] == null) return null;
        const [bestKey, best] = peers.reduce((a, b) => ((row.higher ? b[1] > a[1] : b[1] < a[1]) ? b : a));
        return { best: bestKey, ratio: h.round(row.higher ? medians[ours] / best : best / medians[ours], 2) };
      };
      const mibPerSec = row.size ? Object.fromEntries(Object.entries(medians).map(([key, v]) => [key, v == null ? null : h.round((v * row.size) / MIB, 1)])) : undefined;
      return { ...row, medians, mibPerSec, leadTcp: lead('libraryTcp', 'tcp'), leadUnix: lead('libraryIpc', 'unix'), samples: figures[row.key] };
    });
  const rssRow = {
    label: `server RSS after the run + ${RSS_CALLS.toLocaleString('en-US')} calls, MiB`,
    values: Object.fromEntries(Object.entries(rss).map(([k, v]) => [k, v == null ? null : h.round(v, 1)])),
  };
  return {
    peers: true,
    sides: SIDES.filter(([key]) => sides.includes(key)).map(([key, label, transport]) => ({
      key,
      label,
      transport,
      ...(REFERENCES.has(key) ? { reference: true } : {}),
    })),
    rows: table,
    serverRssMiB: rssRow.values,
    skipped,
    versions: { node: process.version, redis: redis?.version ?? null, python: python?.version ?? null },
    plan: { ...plan, depth: DEPTH, clientProcesses: PROCESSES, rssCalls: RSS_CALLS, interleaved: true, quick, rows: ONLY === null ? 'all' : [...ONLY] },
    cpus: h.cpus(),
    date: new Date().toISOString(),
    durationMs: Math.round(durationMs),
  };
}

/** The text table of a {@link runPeers} report. */
export function peersText(r) {
  const int = (v) => (v == null ? '-' : Math.round(v).toLocaleString('en-US'));
  const ms = (v) => (v == null ? '-' : v.toFixed(2));
  const lead = (l) => (l == null ? '-' : `${l.ratio.toFixed(2)} ${r.sides.find((s) => s.key === l.best).label}`);
  const header = ['figure', ...r.sides.map((s) => s.label), 'tcp lead', 'unix lead'];
  const lines = [header];
  for (const row of r.rows) {
    const cell = (key) => {
      const v = row.medians[key];
      if (row.unit === 'ms') return ms(v);
      return row.mibPerSec && v != null ? `${int(v)} (${row.mibPerSec[key].toFixed(1)})` : int(v);
    };
    lines.push([row.label, ...r.sides.map((s) => cell(s.key)), lead(row.leadTcp), lead(row.leadUnix)]);
  }
  lines.push([
    'server RSS, MiB',
    ...r.sides.map((s) => (SERVER_OF_SIDE[s.key] && r.serverRssMiB[SERVER_OF_SIDE[s.key]] != null ? r.serverRssMiB[SERVER_OF_SIDE[s.key]].toFixed(1) : '')),
    '',
    '',
  ]);
  const widths = header.map((_, c) => Math.max(...lines.map((l) => l[c].length)));
  const fmt = (l) =>
    l
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join('  ')
      .trimEnd();
  const p = r.plan;
  return [
    `loopback-singleton bench --peers${p.quick ? ' (--quick)' : ''}: node ${r.versions.node}, redis ${r.versions.redis ?? '(skipped)'}, ${r.versions.python ?? 'python (skipped)'}, ${r.cpus.count} x ${r.cpus.model}, ${r.date}`,
    ...lines.map(fmt),
    'medians of the repetitions, every side in turn, one client per side in this process (4 processes: one client each).',
    'new client: in this (running) process, from opening it to its first reply; new process: from spawn() to its first reply; server RSS: after the run and',
    `${RSS_CALLS.toLocaleString('en-US')} more calls (the library's TCP daemon, redis-server, the HTTP server, the Python server).`,
    'lead: the library / the best peer on the same transport for rates, the best peer / the library for times (>= 1.00: the library leads; tcp: ours tcp',
    'against ioredis, node-redis, undici and Python on TCP; unix: ours ipc against ioredis and node-redis on the Unix socket). Python managers answer one',
    'call at a time per connection: no figure in flight. node echo: the raw Node echo of `npm run bench` (framing and MessagePack, no auth, no queue), the',
    'limit of a daemon written in Node here: a reference, never a lead.',
    `  ${p.seq.reps} x ${p.seq.calls} sequential calls, ${p.pipelined.reps} x ${p.pipelined.calls} in flight, echo ${ECHO_SIZES.map((s) => `${p.echo[s].reps} x ${p.echo[s].calls}`).join(' / ')}, ${p.processes.reps} rounds x ${p.processes.calls} calls per process, ${p.connect.reps} new clients, ${p.newProcess.reps} new processes per side`,
    ...r.skipped.map((s) => `skipped: ${s}`),
    `${(r.durationMs / 1000).toFixed(1)} s`,
  ]
    .join('\n')
    .concat('\n');
}
