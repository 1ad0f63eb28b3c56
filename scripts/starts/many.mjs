// Many singletons started at once, from ONE process (issue 19, point 4). Usage:
//   node scripts/starts/many.mjs [count=40] [startTimeoutMs (default: the library's)]
// Starts `count` different names in parallel with proxy(), then prints one JSON line:
// successes, failures by code, daemon boots ("ready:" lines and daemon pids in every
// daemon.log), the client's worst event-loop stall and the wall time. Every daemon is shut
// down at the end, and the runtime dir removed.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { closeRemote, localSingleton } from 'loopback-singleton';

const count = Number(process.argv[2] ?? 40);
const startTimeoutMs = process.argv[3] === undefined ? undefined : Number(process.argv[3]);
const runtimeDir = mkdtempSync(join(tmpdir(), 'ls-many-'));
const FACTORY = { module: new URL('../bench/counter.mjs', import.meta.url), export: 'Counter' };
const options = { runtimeDir, ...(startTimeoutMs === undefined ? {} : { startTimeoutMs }) };
const services = Array.from({ length: count }, (_, i) => localSingleton(`many-${i}`, FACTORY, options));

const stall = monitorEventLoopDelay({ resolution: 10 });
stall.enable();
const started = performance.now();
const outcomes = await Promise.allSettled(
  services.map(async (svc) => {
    const t0 = performance.now();
    try {
      const remote = await svc.proxy();
      await remote.inc();
      return { remote, ms: performance.now() - t0 };
    } catch (error) {
      error.ms = performance.now() - t0;
      throw error;
    }
  }),
);
const wallMs = performance.now() - started;
stall.disable();

const failures = {};
let slowestFailureMs = 0;
for (const outcome of outcomes) {
  if (outcome.status === 'rejected') {
    const key = `${outcome.reason?.name}/${outcome.reason?.code}`;
    failures[key] = (failures[key] ?? 0) + 1;
    slowestFailureMs = Math.max(slowestFailureMs, outcome.reason?.ms ?? 0);
  }
}
const firstFailure = outcomes.find((o) => o.status === 'rejected')?.reason?.message;
for (const outcome of outcomes) if (outcome.status === 'fulfilled') await closeRemote(outcome.value.remote);
await Promise.all(services.map((svc) => svc.shutdown({ force: true }).catch(() => {})));

let boots = 0;
const pids = new Set();
for (const svc of services) {
  let text = '';
  try {
    text = readFileSync(svc.paths.log, 'utf8');
  } catch {}
  boots += [...text.matchAll(/\bready: /g)].length;
  for (const m of text.matchAll(/\[daemon (\d+)\]/g)) pids.add(m[1]);
}
if (!process.env.KEEP) rmSync(runtimeDir, { recursive: true, force: true });
else console.error(runtimeDir);
console.log(
  JSON.stringify({
    count,
    startTimeoutMs: startTimeoutMs ?? 'default',
    successes: outcomes.filter((o) => o.status === 'fulfilled').length,
    failures,
    readyLines: boots,
    daemonPids: pids.size,
    maxStallMs: Math.round(stall.max / 1e6),
    p99StallMs: Math.round(stall.percentile(99) / 1e6),
    wallMs: Math.round(wallMs),
    slowestFailureMs: Math.round(slowestFailureMs),
    firstFailure: firstFailure?.slice(0, 400),
  }),
);
