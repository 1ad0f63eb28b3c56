// The loopback-singleton benchmark: every figure of ../shared/PERF.md, each the median of
// several repetitions after a warm-up, each throughput figure next to a raw-socket baseline
// (baseline.mjs: an echo server in a second process, a minimal client here) measured in the
// same run, repetitions interleaved (baseline, project, baseline, ...) so that the drift of a
// shared machine hits both sides. Usage (from the repo root):
//   npm run bench -- [--quick] [--json]
//   npm run bench -- --peers [--quick] [--json]   (against Redis, HTTP, Python: peers/main.mjs)
//   node scripts/bench/main.mjs ...          (after `npm run build`)
// It prints a text table (or, with --json, exactly one JSON object on stdout; progress goes to
// stderr). It is a measurement, not a test: a missed target still exits 0. Exit 1: something
// failed (an error, a lost call, a daemon left behind); exit 2: bad flags. Every daemon lives
// in a fresh temp runtime dir, is shut down through the API and the dir removed, also on
// Ctrl-C: the bench never touches your real singletons.
import { fork, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { localSingleton } from 'loopback-singleton';
import { EchoClient, startEchoServer } from './baseline.mjs';
import { encodeFrame } from './frames.mjs';
import { parseFlags } from '../lib/flags.mjs';
// The library's own zombie-aware check (not exported by the package); the scripts run after a build.
import { isProcessAlive as isAlive } from '../../dist/src/runtime/process.js';

const USAGE = 'usage: node scripts/bench/main.mjs [--peers (against Redis, HTTP and Python managers)] [--quick (fewer repetitions, a smoke run)] [--json] [--help]';
const WORKER = fileURLToPath(new URL('./worker.mjs', import.meta.url));
const COLD_CLIENT = fileURLToPath(new URL('./cold-client.mjs', import.meta.url));
const FLOOR_PARENT = fileURLToPath(new URL('./floor-parent.mjs', import.meta.url));
const FACTORY = { module: new URL('./counter.mjs', import.meta.url), export: 'Counter' };
const NAME = 'bench-counter';

/** Generous: no daemon idles out in the middle of a figure; each is shut down explicitly. */
const IDLE_TTL_MS = 60_000;
/** Calls in flight on one connection in the pipelined figure, on both sides. */
const PIPELINE_DEPTH = 64;
/** Bytes of padding of one item of the stream figure (an item is `{ i, pad }`). */
const ITEM_PAD_BYTES = 1024;
/** Client processes of the multi-client figure. */
const CLIENT_PROCESSES = 4;
/** Deadline of one wait on a child process (ready, a round, a first reply, an exit). */
const CHILD_DEADLINE_MS = 60_000;
/** Deadline of the whole run: a hung call must not hang the bench. */
const RUN_DEADLINE_MS = 10 * 60_000;

/** The targets of ../shared/PERF.md. */
const TARGETS = { seqRatio: 0.8, ipcSeqRatio: 0.8, pipelinedRatio: 0.7, coldStartFloorRatio: 1.3, warmConnectMs: 5, daemonRssMiB: 80 };

/**
 * Repetitions of each figure: the full run takes a minute or so on a 2-core machine; --quick
 * keeps every step (still 100k calls before the memory reading, as the figure is defined)
 * with fewer and shorter repetitions.
 */
const PLANS = {
  full: {
    seq: { warmupCalls: 2000, reps: 15, calls: 8000 },
    pipelined: { warmupCalls: 20_000, reps: 9, calls: 30_000 },
    multiClient: { warmupRounds: 1, rounds: 7, callsPerProcess: 3000 },
    warmConnect: { warmup: 10, reps: 60 },
    coldStart: { warmup: 1, reps: 9 },
    daemonRss: { calls: 100_000 },
    stream: { warmupCalls: 20_000, reps: 7, calls: 50_000 },
  },
  quick: {
    seq: { warmupCalls: 500, reps: 3, calls: 1000 },
    pipelined: { warmupCalls: 2000, reps: 3, calls: 5000 },
    multiClient: { warmupRounds: 1, rounds: 2, callsPerProcess: 500 },
    warmConnect: { warmup: 2, reps: 10 },
    coldStart: { warmup: 1, reps: 3 },
    daemonRss: { calls: 100_000 },
    stream: { warmupCalls: 5000, reps: 3, calls: 20_000 },
  },
};

// ---------------------------------------------------------------------------------------
// Processes and runtime dirs

/** What an interrupted bench (Ctrl-C, the run deadline) must not leave behind. */
const running = { children: new Set(), runtimeDirs: new Set() };
/** What went wrong without stopping the run (a lost call, a daemon left behind): exit 1. */
const failures = [];

/** Tracks `child` for {@link abandon} while it runs. */
function track(child) {
  running.children.add(child);
  child.once('exit', () => running.children.delete(child));
  return child;
}

/**
 * The daemons of `runtimeDir`, alive or not. On Linux: every process whose stdout is a file in
 * the dir (a daemon's stdout is its daemon.log from spawn() on, before it logs anything, so
 * one still booting is found too). Elsewhere: the `[daemon PID]` lines of daemon.log and the
 * pid metadata.json publishes.
 */
function daemonPids(runtimeDir) {
  if (process.platform === 'linux') {
    return readdirSync('/proc')
      .filter((entry) => /^\d+$/.test(entry))
      .filter((pid) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/1`).startsWith(`${runtimeDir}/`);
        } catch {
          return false; // gone meanwhile, or not ours to look at
        }
      })
      .map(Number);
  }
  const read = (file) => {
    try {
      return readFileSync(join(runtimeDir, NAME, file), 'utf8');
    } catch {
      return '';
    }
  };
  const pids = new Set([...read('daemon.log').matchAll(/\[daemon (\d+)\]/g)].map((match) => Number(match[1])));
  const published = /"pid":\s*(\d+)/.exec(read('metadata.json'));
  if (published) pids.add(Number(published[1]));
  return [...pids];
}

/** SIGKILLs every daemon of `runtimeDir` still alive; returns their pids. */
function killDaemons(runtimeDir) {
  const killed = [];
  for (const pid of daemonPids(runtimeDir)) {
    if (!isAlive(pid)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return killed;
}

/** Kills what the bench started and removes its runtime dirs, then exits. Synchronous. */
function abandon(why, exitCode) {
  for (const child of running.children) child.kill('SIGKILL');
  // A client killed in the middle of spawning a daemon: let it die first (at most 1 s), so that
  // the daemon it spawned exists when the runtime dirs are searched.
  const deadline = Date.now() + 1000;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  while ([...running.children].some((child) => isAlive(child.pid)) && Date.now() < deadline) Atomics.wait(pause, 0, 0, 10);
  for (const runtimeDir of running.runtimeDirs) {
    killDaemons(runtimeDir);
    rmSync(runtimeDir, { recursive: true, force: true });
  }
  process.stderr.write(`bench: ${why}; child processes and daemons killed, runtime dirs removed\n`);
  process.exit(exitCode);
}
process.once('SIGINT', () => abandon('interrupted by SIGINT', 130));
process.once('SIGTERM', () => abandon('interrupted by SIGTERM', 130));

function withDeadline(promise, ms, what) {
  let timer;
  const expired = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/**
 * Runs `fn(runtimeDir)` in a fresh temp runtime dir, then shuts down the daemon of the dir
 * through the API (a fresh service object: shutdown() stops whatever runs under the name) and
 * removes the dir. A daemon still alive after that is killed and counted as a failure.
 */
async function withRuntimeDir(fn) {
  const runtimeDir = mkdtempSync(join(tmpdir(), 'loopback-singleton-bench-'));
  running.runtimeDirs.add(runtimeDir);
  try {
    return await fn(runtimeDir);
  } finally {
    try {
      await withDeadline(localSingleton(NAME, FACTORY, { runtimeDir }).shutdown(), CHILD_DEADLINE_MS, 'shutdown()');
    } finally {
      const left = killDaemons(runtimeDir);
      if (left.length > 0) failures.push(`daemon(s) ${left.join(', ')} still ran after shutdown() resolved (killed)`);
      rmSync(runtimeDir, { recursive: true, force: true });
      running.runtimeDirs.delete(runtimeDir);
    }
  }
}

/** A forked worker.mjs, driven over its IPC channel. */
class Worker {
  stderr = '';

  constructor(spec) {
    this.process = track(fork(WORKER, [spec], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] }));
    this.process.stderr.setEncoding('utf8').on('data', (chunk) => (this.stderr += chunk));
    this.exited = new Promise((resolve) => this.process.once('exit', (code, signal) => resolve(signal ?? code)));
  }

  /** Resolves with the next message of type `t`; rejects when the child exits first. */
  next(t) {
    const { process: child } = this;
    const received = new Promise((resolve, reject) => {
      const onMessage = (message) => {
        if (message.t !== t) return;
        child.off('exit', onExit);
        child.off('message', onMessage);
        resolve(message);
      };
      const onExit = (code, signal) => {
        child.off('message', onMessage);
        reject(new Error(`worker pid ${child.pid} exited (${signal ?? code}) before '${t}'${this.stderr ? `:\n${this.stderr.trim()}` : ''}`));
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
    return withDeadline(received, CHILD_DEADLINE_MS, `worker pid ${child.pid}, '${t}'`);
  }

  send(message) {
    this.process.send(message);
  }
}

// ---------------------------------------------------------------------------------------
// Measuring

const now = () => performance.now();
const progress = (line) => process.stderr.write(`bench: ${line}\n`);

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** `calls` calls, each one awaited before the next is issued. */
async function sequential(call, calls) {
  for (let i = 0; i < calls; i++) await call();
}

/**
 * `calls` calls with {@link PIPELINE_DEPTH} in flight: that many lanes, each issuing its next
 * call as soon as its previous one is answered, until `calls` have been issued.
 */
async function pipelined(call, calls) {
  let issued = 0;
  const lane = async () => {
    while (issued < calls) {
      issued++;
      await call();
    }
  };
  await Promise.all(Array.from({ length: PIPELINE_DEPTH }, lane));
}

/**
 * Runs each side `reps` times, alternating (A, B, A, B, ...), after one warm-up run of each;
 * `sides` maps a name to `(calls) => Promise`. Returns each side's calls/s, in order.
 */
async function interleaved({ warmupCalls, reps, calls }, sides) {
  for (const run of Object.values(sides)) await run(warmupCalls);
  const rates = Object.fromEntries(Object.keys(sides).map((name) => [name, []]));
  for (let rep = 0; rep < reps; rep++) {
    for (const [name, run] of Object.entries(sides)) {
      const start = now();
      await run(calls);
      rates[name].push(calls / ((now() - start) / 1000));
    }
  }
  return rates;
}

/**
 * One proxy on a daemon (through the public API) against one echo client on the baseline
 * server, same transport, both in this process, driven by the same `drive` (sequential or
 * pipelined). Returns `{ project, baseline }` calls/s per repetition.
 */
function throughput(transport, plan, drive) {
  return withRuntimeDir(async (runtimeDir) => {
    const server = startEchoServer(transport, join(runtimeDir, 'echo.sock'));
    track(server.child);
    let echo;
    let counter;
    try {
      echo = await EchoClient.connect(await withDeadline(server.address, CHILD_DEADLINE_MS, 'the echo server'));
      counter = await localSingleton(NAME, FACTORY, { runtimeDir, idleTtlMs: IDLE_TTL_MS, transport }).proxy();
      return await interleaved(plan, {
        baseline: (calls) => drive(() => echo.call('inc', []), calls),
        project: (calls) => drive(() => counter.inc(), calls),
      });
    } finally {
      echo?.close();
      server.child.kill();
      await counter?.[Symbol.asyncDispose]();
    }
  });
}

/**
 * Items of {@link ITEM_PAD_BYTES} bytes through a stream (`for await` over the hosted
 * Counter's `items()`, credit-driven) against the echo server answering the same items to
 * {@link PIPELINE_DEPTH} pipelined requests: how close the stream comes to pulling items by
 * raw RPC. Every item is counted; a short stream is a failure. Returns items/s per repetition.
 */
function streamThroughput(plan) {
  return withRuntimeDir(async (runtimeDir) => {
    const server = startEchoServer('tcp', join(runtimeDir, 'echo.sock'));
    track(server.child);
    let echo;
    let counter;
    try {
      echo = await EchoClient.connect(await withDeadline(server.address, CHILD_DEADLINE_MS, 'the echo server'));
      counter = await localSingleton(NAME, FACTORY, { runtimeDir, idleTtlMs: IDLE_TTL_MS }).proxy();
      return await interleaved(plan, {
        baseline: (items) => pipelined(() => echo.call('item', [ITEM_PAD_BYTES]), items),
        project: async (items) => {
          let received = 0;
          for await (const item of counter.items(items, ITEM_PAD_BYTES)) if (item.i === received) received++;
          if (received !== items) failures.push(`stream: ${received} of ${items} items arrived in order`);
        },
      });
    } finally {
      echo?.close();
      server.child.kill();
      await counter?.[Symbol.asyncDispose]();
    }
  });
}

/**
 * {@link CLIENT_PROCESSES} worker processes, each with one proxy, make `callsPerProcess`
 * sequential calls per round on the same daemon (started beforehand by this process). A
 * round's rate: all its calls over the wall time from "go" (every worker connected) to the last
 * "done". Afterwards the counter must equal every call made, warm-up rounds included.
 */
function multiClient({ warmupRounds, rounds, callsPerProcess }) {
  return withRuntimeDir(async (runtimeDir) => {
    const options = { idleTtlMs: IDLE_TTL_MS };
    const counter = await localSingleton(NAME, FACTORY, { runtimeDir, ...options }).proxy();
    const spec = JSON.stringify({ runtimeDir, name: NAME, options });
    const workers = Array.from({ length: CLIENT_PROCESSES }, () => new Worker(spec));
    try {
      await Promise.all(workers.map((worker) => worker.next('ready')));
      const rates = [];
      let calls = 0;
      let bad = 0;
      for (let round = 0; round < warmupRounds + rounds; round++) {
        const start = now();
        for (const worker of workers) worker.send({ t: 'go', calls: callsPerProcess });
        const done = await Promise.all(workers.map((worker) => worker.next('done')));
        const seconds = (now() - start) / 1000;
        const roundCalls = done.reduce((sum, report) => sum + report.calls, 0);
        calls += roundCalls;
        bad += done.reduce((sum, report) => sum + report.bad, 0);
        if (round >= warmupRounds) rates.push(roundCalls / seconds);
      }
      for (const worker of workers) worker.send({ t: 'stop' });
      const exits = await withDeadline(Promise.all(workers.map((worker) => worker.exited)), CHILD_DEADLINE_MS, 'the workers to exit');
      exits.forEach((exit, i) => {
        if (exit !== 0) failures.push(`worker pid ${workers[i].process.pid} exited with ${exit}: ${workers[i].stderr.trim()}`);
      });
      const finalCount = await counter.get();
      const exact = finalCount === calls && bad === 0;
      if (finalCount !== calls) failures.push(`multi-client: the counter is ${finalCount} after ${calls} answered calls`);
      if (bad > 0) failures.push(`multi-client: ${bad} replies were not a number above the worker's previous one`);
      return { rates, calls, finalCount, exact };
    } finally {
      for (const worker of workers) worker.process.kill('SIGKILL');
      await counter[Symbol.asyncDispose]();
    }
  });
}

/**
 * A new proxy to a running daemon until its first reply, as a new user of the service sees
 * it: `localSingleton()`, `proxy()` (read metadata.json, check the pid, connect, mutual
 * handshake, factory check) and one `inc()`, on a fresh service object each time. This
 * process's own module imports and JIT are warm: that part is the cold-start figure's.
 */
function warmConnect({ warmup, reps }) {
  return withRuntimeDir(async (runtimeDir) => {
    const options = { runtimeDir, idleTtlMs: IDLE_TTL_MS };
    await localSingleton(NAME, FACTORY, options).ensureStarted();
    const times = [];
    for (let rep = 0; rep < warmup + reps; rep++) {
      const start = now();
      const counter = await localSingleton(NAME, FACTORY, options).proxy();
      await counter.inc();
      const ms = now() - start;
      await counter[Symbol.asyncDispose]();
      if (rep >= warmup) times.push(ms);
    }
    return times;
  });
}

/** Milliseconds from spawn() to the exit of `node -e 0`: what any Node process costs here. */
async function nodeStartup() {
  const start = now();
  const child = track(spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' }));
  await withDeadline(
    new Promise((resolve, reject) => {
      child.once('exit', resolve);
      child.once('error', reject);
    }),
    CHILD_DEADLINE_MS,
    'node -e 0',
  );
  return now() - start;
}

/**
 * Milliseconds from spawn() of `script` until it prints its first line (stdout), then waits
 * for its exit; a non-zero exit after the line is recorded as a failure.
 */
async function untilFirstLine(script, args, what) {
  const start = now();
  const child = track(spawn(process.execPath, [script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  const ms = await withDeadline(
    new Promise((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk) => {
        out += chunk;
        if (out.includes('\n')) resolve(now() - start);
      });
      exited.then((exit) => reject(new Error(`${what} exited (${exit}) before its first line:\n${stderr.trim()}`)));
    }),
    CHILD_DEADLINE_MS,
    what,
  );
  const exit = await withDeadline(exited, CHILD_DEADLINE_MS, `${what} to exit`);
  if (exit !== 0) failures.push(`${what} exited with ${exit} after its first line: ${stderr.trim()}`);
  return ms;
}

/**
 * Milliseconds from spawn() of cold-client.mjs (no daemon of `name` running) until it prints
 * its first reply: Node's own startup, the library's import, the daemon's spawn and boot, the
 * handshake and one call. Then that daemon is shut down.
 */
async function coldStart(runtimeDir, name) {
  const spec = JSON.stringify({ runtimeDir, name, options: { idleTtlMs: IDLE_TTL_MS } });
  const ms = await untilFirstLine(COLD_CLIENT, [spec], 'cold-client.mjs');
  await withDeadline(localSingleton(name, FACTORY, { runtimeDir }).shutdown(), CHILD_DEADLINE_MS, 'shutdown()');
  return ms;
}

/**
 * Milliseconds of the cold-start floor: two bare Node processes started one by the other;
 * with `deps`, the second imports the daemon's dependencies first (the dependency floor).
 */
function coldStartFloor(deps = false) {
  return untilFirstLine(FLOOR_PARENT, deps ? ['deps'] : [], 'floor-parent.mjs');
}

/**
 * `node -e 0`, a cold start and the floor, in turn, so that all three see the same machine.
 * The cold starts share one runtime root, each with a singleton of its own: a user's root
 * persists, and with it the daemon's compile cache (Node 22.1+), which the warm-up fills.
 */
function coldStarts({ warmup, reps }) {
  return withRuntimeDir(async (runtimeDir) => {
    const node = [];
    const cold = [];
    const floor = [];
    const depsFloor = [];
    for (let rep = 0; rep < warmup + reps; rep++) {
      const nodeMs = await nodeStartup();
      const coldMs = await coldStart(runtimeDir, `${NAME}-cold-${rep}`);
      const floorMs = await coldStartFloor();
      const depsFloorMs = await coldStartFloor(true);
      if (rep >= warmup) {
        node.push(nodeMs);
        cold.push(coldMs);
        floor.push(floorMs);
        depsFloor.push(depsFloorMs);
      }
    }
    return { node, cold, floor, depsFloor };
  });
}

/** The daemon's resident memory (VmRSS, MiB) after `calls` pipelined calls; null off Linux. */
function daemonRss({ calls }) {
  return withRuntimeDir(async (runtimeDir) => {
    const service = localSingleton(NAME, FACTORY, { runtimeDir, idleTtlMs: IDLE_TTL_MS });
    const counter = await service.proxy();
    try {
      await pipelined(() => counter.inc(), calls);
      const { pid, callsServed } = await service.ping();
      let rssMiB = null;
      if (process.platform === 'linux') {
        const kB = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))[1]);
        rssMiB = kB / 1024;
      }
      return { rssMiB, callsServed };
    } finally {
      await counter[Symbol.asyncDispose]();
    }
  });
}

// ---------------------------------------------------------------------------------------
// The run

async function run(plan) {
  const t0 = now();
  const { seq, pipelined: pipe, multiClient: multi, warmConnect: warm, coldStart: cold, daemonRss: rss, stream } = plan;
  const perSide = (p) => `${p.warmupCalls} warm-up calls, ${p.reps} x ${p.calls} calls per side`;

  progress(`sequential calls, tcp (${perSide(seq)})`);
  const seqTcp = await throughput('tcp', seq, sequential);
  progress(`sequential calls, ipc (${perSide(seq)})`);
  const seqIpc = await throughput('ipc', seq, sequential);
  progress(`pipelined calls, ${PIPELINE_DEPTH} in flight, tcp (${perSide(pipe)})`);
  const piped = await throughput('tcp', pipe, pipelined);
  progress(
    `stream items of ${ITEM_PAD_BYTES} B, tcp, against ${PIPELINE_DEPTH} pipelined item requests (${stream.warmupCalls} warm-up items, ${stream.reps} x ${stream.calls} items per side)`,
  );
  const streamed = await streamThroughput(stream);
  progress(`${CLIENT_PROCESSES} client processes (${multi.warmupRounds} warm-up + ${multi.rounds} rounds x ${multi.callsPerProcess} calls each)`);
  const clients = await multiClient(multi);
  progress(`warm connect (${warm.warmup} warm-up + ${warm.reps})`);
  const warmMs = await warmConnect(warm);
  progress(`cold start, node -e 0, the cold-start floor and the dependency floor, in turn (${cold.warmup} warm-up + ${cold.reps} each)`);
  const starts = await coldStarts(cold);
  progress(`daemon memory after ${rss.calls} calls`);
  const memory = await daemonRss(rss);

  const m = {
    seq: median(seqTcp.project),
    seqBase: median(seqTcp.baseline),
    ipc: median(seqIpc.project),
    ipcBase: median(seqIpc.baseline),
    piped: median(piped.project),
    pipedBase: median(piped.baseline),
    stream: median(streamed.project),
    streamBase: median(streamed.baseline),
    cold: median(starts.cold),
    node: median(starts.node),
    floor: median(starts.floor),
    depsFloor: median(starts.depsFloor),
  };
  const ratios = {
    seqRatio: m.seq / m.seqBase,
    ipcSeqRatio: m.ipc / m.ipcBase,
    pipelinedRatio: m.piped / m.pipedBase,
    coldStartRatio: m.cold / m.node,
    coldStartVsFloorRatio: m.cold / m.floor,
  };
  const warmConnectMs = median(warmMs);
  const pass = {
    seq: ratios.seqRatio >= TARGETS.seqRatio,
    ipcSeq: ratios.ipcSeqRatio >= TARGETS.ipcSeqRatio,
    pipelined: ratios.pipelinedRatio >= TARGETS.pipelinedRatio,
    multiClient: clients.exact,
    coldStart: ratios.coldStartVsFloorRatio <= TARGETS.coldStartFloorRatio,
    warmConnect: warmConnectMs <= TARGETS.warmConnectMs,
    daemonRss: memory.rssMiB !== null && memory.rssMiB <= TARGETS.daemonRssMiB,
  };
  const perSec = (values) => values.map(Math.round);
  // Bytes of one item as it crosses: its MessagePack encoding (the frame header excluded).
  const itemBytes = encodeFrame({ i: 1, pad: 'x'.repeat(ITEM_PAD_BYTES) }).length - 4;
  const mbPerSec = (itemsPerSec) => round((itemsPerSec * itemBytes) / 1e6, 1);
  const millis = (values) => values.map((v) => round(v, 2));
  return {
    seqCallsPerSec: Math.round(m.seq),
    seqBaselinePerSec: Math.round(m.seqBase),
    seqRatio: round(ratios.seqRatio, 3),
    ipcSeqCallsPerSec: Math.round(m.ipc),
    ipcSeqBaselinePerSec: Math.round(m.ipcBase),
    ipcSeqRatio: round(ratios.ipcSeqRatio, 3),
    pipelinedCallsPerSec: Math.round(m.piped),
    pipelinedBaselinePerSec: Math.round(m.pipedBase),
    pipelinedRatio: round(ratios.pipelinedRatio, 3),
    pipelineDepth: PIPELINE_DEPTH,
    streamItemsPerSec: Math.round(m.stream),
    streamMBPerSec: mbPerSec(m.stream),
    streamBaselineItemsPerSec: Math.round(m.streamBase),
    streamBaselineMBPerSec: mbPerSec(m.streamBase),
    streamRatio: round(m.stream / m.streamBase, 3),
    streamItemBytes: itemBytes,
    multiClientCallsPerSec: Math.round(median(clients.rates)),
    multiClientProcesses: CLIENT_PROCESSES,
    multiClientExact: clients.exact,
    multiClientCalls: clients.calls,
    multiClientFinalCount: clients.finalCount,
    coldStartMs: round(m.cold, 1),
    nodeStartupMs: round(m.node, 1),
    coldStartRatio: round(ratios.coldStartRatio, 2),
    /** The target: cold start / its floor, two bare Node processes, one started by the other (floor-parent.mjs). */
    coldStartVsFloorRatio: round(ratios.coldStartVsFloorRatio, 2),
    coldStartFloorMs: round(m.floor, 1),
    coldStartFloorRatio: round(m.floor / m.node, 2),
    /** The floor whose second process imports the daemon's dependencies (floor-deps.mjs), and its ratio to the floor. */
    coldStartDepsFloorMs: round(m.depsFloor, 1),
    coldStartDepsFloorRatio: round(m.depsFloor / m.floor, 2),
    warmConnectMs: round(warmConnectMs, 2),
    daemonRssMiB: memory.rssMiB === null ? null : round(memory.rssMiB, 1),
    daemonRssAfterCalls: memory.callsServed,
    targets: TARGETS,
    pass,
    targetsMet: Object.values(pass).every(Boolean),
    repetitions: {
      seq: { ...seq, transports: ['tcp', 'ipc'], interleaved: true },
      pipelined: { ...pipe, depth: PIPELINE_DEPTH, interleaved: true },
      multiClient: { processes: CLIENT_PROCESSES, ...multi },
      warmConnect: warm,
      coldStart: { ...cold, interleavedWithNodeStartup: true, interleavedWithFloor: true, interleavedWithDepsFloor: true },
      daemonRss: rss,
      stream: { ...stream, itemPadBytes: ITEM_PAD_BYTES, baselineDepth: PIPELINE_DEPTH, interleaved: true },
    },
    /** every repetition's value, in order */
    samples: {
      seqCallsPerSec: perSec(seqTcp.project),
      seqBaselinePerSec: perSec(seqTcp.baseline),
      ipcSeqCallsPerSec: perSec(seqIpc.project),
      ipcSeqBaselinePerSec: perSec(seqIpc.baseline),
      pipelinedCallsPerSec: perSec(piped.project),
      pipelinedBaselinePerSec: perSec(piped.baseline),
      streamItemsPerSec: perSec(streamed.project),
      streamBaselineItemsPerSec: perSec(streamed.baseline),
      multiClientCallsPerSec: perSec(clients.rates),
      warmConnectMs: millis(warmMs),
      coldStartMs: millis(starts.cold),
      nodeStartupMs: millis(starts.node),
      coldStartFloorMs: millis(starts.floor),
      coldStartDepsFloorMs: millis(starts.depsFloor),
    },
    node: process.version,
    cpus: { count: cpus().length, model: cpus()[0]?.model.trim() ?? 'unknown' },
    date: new Date().toISOString(),
    durationMs: Math.round(now() - t0),
  };
}

// ---------------------------------------------------------------------------------------
// Report

function round(value, digits) {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

function textReport(r, quick) {
  const s = r.samples;
  const int = (v) => Math.round(v).toLocaleString('en-US');
  const spread = (values, fmt) => `${fmt(median(values))} (${fmt(Math.min(...values))}-${fmt(Math.max(...values))})`;
  const fixed = (digits) => (v) => v.toFixed(digits);
  const yes = (ok) => (ok ? 'yes' : 'NO');
  const rows = [
    ['figure', 'loopback-singleton', 'baseline', 'ratio', 'target', 'ok'],
    ['sequential calls/s, tcp', spread(s.seqCallsPerSec, int), spread(s.seqBaselinePerSec, int), r.seqRatio.toFixed(2), `>= ${r.targets.seqRatio}`, yes(r.pass.seq)],
    [
      'sequential calls/s, ipc',
      spread(s.ipcSeqCallsPerSec, int),
      spread(s.ipcSeqBaselinePerSec, int),
      r.ipcSeqRatio.toFixed(2),
      `>= ${r.targets.ipcSeqRatio}`,
      yes(r.pass.ipcSeq),
    ],
    [
      `pipelined calls/s, ${r.pipelineDepth} in flight`,
      spread(s.pipelinedCallsPerSec, int),
      spread(s.pipelinedBaselinePerSec, int),
      r.pipelinedRatio.toFixed(2),
      `>= ${r.targets.pipelinedRatio}`,
      yes(r.pass.pipelined),
    ],
    [
      `stream items/s, ${r.streamItemBytes} B each (MB/s)`,
      `${spread(s.streamItemsPerSec, int)} (${r.streamMBPerSec})`,
      `${spread(s.streamBaselineItemsPerSec, int)} (${r.streamBaselineMBPerSec})`,
      r.streamRatio.toFixed(2),
      '(no target)',
      '-',
    ],
    [
      `${r.multiClientProcesses} client processes, calls/s`,
      spread(s.multiClientCallsPerSec, int),
      '-',
      '-',
      'no call lost',
      `${yes(r.pass.multiClient)} (counter ${r.multiClientFinalCount} = ${r.multiClientCalls} calls)`,
    ],
    [
      'cold start, ms (baseline: its floor)',
      spread(s.coldStartMs, fixed(1)),
      spread(s.coldStartFloorMs, fixed(1)),
      r.coldStartVsFloorRatio.toFixed(2),
      `<= ${r.targets.coldStartFloorRatio}x`,
      yes(r.pass.coldStart),
    ],
    [
      '  floor: 2 bare Node processes in a row',
      spread(s.coldStartFloorMs, fixed(1)),
      spread(s.nodeStartupMs, fixed(1)),
      r.coldStartFloorRatio.toFixed(2),
      '(vs node -e 0)',
      '-',
    ],
    [
      "  dependency floor: the floor's 2nd process imports the daemon's dependencies",
      spread(s.coldStartDepsFloorMs, fixed(1)),
      spread(s.coldStartFloorMs, fixed(1)),
      r.coldStartDepsFloorRatio.toFixed(2),
      '(vs the floor)',
      '-',
    ],
    ['  cold start vs node -e 0', spread(s.coldStartMs, fixed(1)), spread(s.nodeStartupMs, fixed(1)), r.coldStartRatio.toFixed(2), '(reference)', '-'],
    ['warm connect, ms', spread(s.warmConnectMs, fixed(2)), '-', '-', `<= ${r.targets.warmConnectMs} ms`, yes(r.pass.warmConnect)],
    [
      `daemon RSS after ${int(r.daemonRssAfterCalls)} calls, MiB`,
      r.daemonRssMiB === null ? 'n/a' : r.daemonRssMiB.toFixed(1),
      '-',
      '-',
      `<= ${r.targets.daemonRssMiB} MiB`,
      yes(r.pass.daemonRss),
    ],
  ];
  const widths = rows[0].map((_, column) => Math.max(...rows.map((row) => row[column].length)));
  const line = (row) =>
    row
      .map((cell, column) => (column === 0 || column === row.length - 1 ? cell.padEnd(widths[column]) : cell.padStart(widths[column])))
      .join('  ')
      .trimEnd();
  const { seq, pipelined: pipe, multiClient: multi, warmConnect: warm, coldStart: cold, stream } = r.repetitions;
  const lines = [
    `loopback-singleton bench${quick ? ' (--quick)' : ''}: node ${r.node}, ${r.cpus.count} x ${r.cpus.model}, ${r.date}`,
    line(rows[0]),
    ...rows.slice(1).map(line),
    'median (min-max) of the repetitions; the ratio is of the medians. Repetitions, baseline and project alternating:',
    `  sequential (tcp, then ipc): ${seq.warmupCalls} warm-up calls, then ${seq.reps} x ${seq.calls} calls per side`,
    `  pipelined: ${pipe.warmupCalls} warm-up calls, then ${pipe.reps} x ${pipe.calls} calls per side`,
    `  stream: ${stream.warmupCalls} warm-up items, then ${stream.reps} x ${stream.calls} items per side; baseline: the echo server answering ${stream.baselineDepth} pipelined requests for the same items`,
    `  ${multi.processes} client processes: ${multi.warmupRounds} warm-up round, then ${multi.rounds} rounds x ${multi.callsPerProcess} calls per process`,
    `  warm connect: ${warm.warmup} warm-up, then ${warm.reps}; cold start: ${cold.warmup} warm-up, then ${cold.reps}, in turn with node -e 0 and both floors`,
    `targets: ${Object.values(r.pass).filter(Boolean).length} of ${Object.keys(r.pass).length} met; ${(r.durationMs / 1000).toFixed(1)} s`,
  ];
  return `${lines.join('\n')}\n`;
}

/** What the --peers run (peers/main.mjs) takes from this one: its processes, dirs and deadlines. */
const peersHelpers = {
  track,
  withRuntimeDir,
  withDeadline,
  deadlineMs: CHILD_DEADLINE_MS,
  progress,
  median,
  round,
  name: NAME,
  factory: { module: FACTORY.module.href, export: FACTORY.export },
  idleTtlMs: IDLE_TTL_MS,
  ping: (runtimeDir) => withDeadline(localSingleton(NAME, FACTORY, { runtimeDir }).ping(), CHILD_DEADLINE_MS, 'ping()'),
  cpus: () => ({ count: cpus().length, model: cpus()[0]?.model.trim() ?? 'unknown' }),
};

// ---------------------------------------------------------------------------------------

async function main() {
  const flags = parseFlags('bench', USAGE, {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    peers: { type: 'boolean', default: false },
  });
  setTimeout(() => abandon(`did not finish within ${RUN_DEADLINE_MS / 1000} s`, 1), RUN_DEADLINE_MS).unref();
  let report;
  let text = textReport;
  try {
    if (flags.peers) {
      const peers = await import('./peers/main.mjs');
      report = await peers.runPeers(peersHelpers, flags.quick);
      text = peers.peersText;
    } else report = await run(flags.quick ? PLANS.quick : PLANS.full);
  } catch (error) {
    process.stderr.write(`bench: failed: ${error?.stack ?? error}\n`);
    for (const failure of failures) process.stderr.write(`bench: also: ${failure}\n`);
    process.exitCode = 1;
    return;
  }
  report.failures = failures;
  process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : text(report, flags.quick));
  for (const failure of failures) process.stderr.write(`bench: FAILED: ${failure}\n`);
  process.exitCode = failures.length > 0 ? 1 : 0;
}

await main();
