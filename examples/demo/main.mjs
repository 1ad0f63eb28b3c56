// The loopback-singleton demo: W worker processes, started at the same instant, all share ONE
// live Counter hosted in ONE daemon. Usage (from the repo root, after `npm run build`):
//   node examples/demo/main.mjs [--workers N] [--calls M]
// Verifies (and exits 1 otherwise) that every worker saw the same daemon pid, that the final
// count is exactly N*M with every value 1..N*M handed out exactly once, and that shutdown()
// leaves no daemon behind. Everything happens in a fresh temp runtime dir, removed at the end,
// so the demo never touches your real singletons.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { closeRemote, localSingleton } from 'loopback-singleton';

const USAGE = 'usage: node examples/demo/main.mjs [--workers N (1-64, default 6)] [--calls M (1-1000000, default 500)]';
const WORKER = fileURLToPath(new URL('./worker.mjs', import.meta.url));
const READY_TIMEOUT_MS = 30_000;
const RUN_TIMEOUT_MS = 5 * 60_000;
const SHUTDOWN_TIMEOUT_MS = 15_000;

function usageError(message) {
  process.stderr.write(`demo: ${message}. ${USAGE}\n`);
  process.exit(2);
}

function intFlag(raw, flag, max) {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1 || value > max) {
    usageError(`${flag} must be an integer from 1 to ${max}, got "${raw}"`);
  }
  return value;
}

function parseFlags() {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        workers: { type: 'string', default: '6' },
        calls: { type: 'string', default: '500' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    usageError(error.message.split('\n')[0].replace(/\.$/, ''));
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  return { workers: intFlag(parsed.values.workers, '--workers', 64), calls: intFlag(parsed.values.calls, '--calls', 1_000_000) };
}

/** On Linux, 'Z' when `pid` has exited but its parent has not reaped it yet. */
function procState(pid) {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Still running; a zombie (exited, not yet reaped by its parent) counts as gone. */
function isAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return error.code === 'EPERM';
  }
  const state = procState(pid);
  return state !== 'Z' && state !== 'X';
}

class DemoFailure extends Error {}

function fail(message) {
  throw new DemoFailure(message);
}

/** Spawns one worker; resolves `ready` when it is waiting at the barrier, `done` with its report. */
function startWorker(index, calls, runtimeDir) {
  const child = spawn(process.execPath, [WORKER, '--calls', String(calls), '--runtime-dir', runtimeDir, '--barrier'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let markReady;
  const ready = new Promise((resolve) => (markReady = resolve));
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    stdout += chunk;
    if (stdout.includes('{"ready":true}\n')) markReady();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
  const done = new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      let report;
      try {
        report = JSON.parse(last);
      } catch {
        // handled below
      }
      if (code !== 0 || report?.daemonPid === undefined) {
        const why = signal ? `was killed by ${signal}` : `exited with code ${code}`;
        reject(new DemoFailure(`worker #${index} (pid ${child.pid}) ${why}${stderr.trim() ? `:\n${stderr.trim()}` : ' without a report'}`));
      } else {
        resolve(report);
      }
    });
  });
  done.catch(() => {}); // awaited later; avoid an unhandled rejection meanwhile
  return { child, ready, done };
}

function withTimeout(promise, ms, message) {
  let timer;
  return Promise.race([promise, new Promise((_, reject) => (timer = setTimeout(() => reject(new DemoFailure(message)), ms)))]).finally(() => clearTimeout(timer));
}

/** Starts every worker, releases them all at once, and collects their reports. */
async function runWorkers(workers, calls, runtimeDir) {
  const started = Array.from({ length: workers }, (_, i) => startWorker(i + 1, calls, runtimeDir));
  try {
    await withTimeout(
      Promise.race([Promise.all(started.map((w) => w.ready)), Promise.all(started.map((w) => w.done))]),
      READY_TIMEOUT_MS,
      `workers were not ready within ${READY_TIMEOUT_MS} ms`,
    );
    // Release every worker at the same instant: none of them has touched the daemon yet, so
    // they all race to cold-start it.
    const releasedAt = performance.timeOrigin + performance.now();
    for (const { child } of started) child.stdin.end();
    const reports = await withTimeout(Promise.all(started.map((w) => w.done)), RUN_TIMEOUT_MS, `workers did not finish within ${RUN_TIMEOUT_MS} ms`);
    return { reports, releasedAt, finishedAt: performance.timeOrigin + performance.now() };
  } catch (error) {
    for (const { child } of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw error;
  }
}

function fmtMs(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

async function run({ workers, calls }, runtimeDir, svc, seenPids) {
  const total = workers * calls;
  console.log(`loopback-singleton demo: ${workers} worker processes x ${calls} calls on one shared Counter`);

  const { reports, releasedAt, finishedAt } = await runWorkers(workers, calls, runtimeDir);
  for (const report of reports) seenPids.add(report.daemonPid);

  // 1. One daemon.
  const pids = [...seenPids];
  if (pids.length !== 1) fail(`workers saw ${pids.length} different daemon pids (${pids.join(', ')}); expected exactly one`);
  const [daemonPid] = pids;
  console.log(`daemon pid: ${daemonPid} (the only one: all ${workers} workers were answered by it)`);

  // 2. Exact count, every value handed out exactly once, each worker's values increasing.
  const seen = new Uint32Array(total + 1);
  for (const [i, { values }] of reports.entries()) {
    if (values.length !== calls) fail(`worker #${i + 1} reported ${values.length} values, expected ${calls}`);
    for (const [j, value] of values.entries()) {
      if (!Number.isSafeInteger(value) || value < 1 || value > total) fail(`worker #${i + 1} got value ${value}, outside 1..${total}`);
      if (j > 0 && value <= values[j - 1]) fail(`worker #${i + 1} got ${value} after ${values[j - 1]}: its calls ran out of order`);
      seen[value] += 1;
    }
  }
  const missing = [];
  const repeated = [];
  for (let v = 1; v <= total; v++) {
    if (seen[v] === 0) missing.push(v);
    else if (seen[v] > 1) repeated.push(`${v} (x${seen[v]})`);
  }
  if (missing.length > 0 || repeated.length > 0) {
    fail(
      `values are not 1..${total} exactly once: missing [${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', ...' : ''}], ` +
        `repeated [${repeated.slice(0, 10).join(', ')}${repeated.length > 10 ? ', ...' : ''}] (calls overlapped or were lost)`,
    );
  }
  const proxy = await svc.proxy();
  let finalCount;
  try {
    finalCount = await proxy.get();
  } finally {
    await closeRemote(proxy);
  }
  const info = await svc.ping();
  seenPids.add(info.pid);
  if (info.pid !== daemonPid) fail(`the daemon changed: workers saw pid ${daemonPid}, it is now ${info.pid}`);
  if (finalCount !== total) fail(`final count is ${finalCount}, expected ${workers} x ${calls} = ${total}`);
  console.log(`final count: ${finalCount} = ${workers} x ${calls}; every value 1..${total} was returned exactly once`);

  // 3. Throughput, from the first call of any worker to the last reply of any worker.
  const firstCall = Math.min(...reports.map((r) => r.firstCallAt));
  const lastReply = Math.max(...reports.map((r) => r.doneAt));
  const busyMs = Math.max(lastReply - firstCall, 1);
  console.log(
    `throughput: ${total} calls in ${fmtMs(busyMs)} = ${Math.round((total / busyMs) * 1000)} calls/s ` +
      `(${fmtMs(finishedAt - releasedAt)} from release to last worker exit, incl. daemon cold start)`,
  );
}

async function main() {
  const flags = parseFlags();
  const runtimeDir = mkdtempSync(join(tmpdir(), 'loopback-singleton-demo-'));
  const svc = localSingleton('demo-counter', { module: new URL('./counter.mjs', import.meta.url), export: 'Counter' }, { runtimeDir, idleTtlMs: 30_000 });
  const seenPids = new Set();
  let ok = true;
  try {
    await run(flags, runtimeDir, svc, seenPids);
  } catch (error) {
    ok = false;
    process.stderr.write(`FAIL: ${error instanceof DemoFailure ? error.message : (error?.stack ?? error)}\n`);
    try {
      const log = readFileSync(svc.paths.log, 'utf8').trimEnd().split('\n').slice(-15).join('\n');
      if (log) process.stderr.write(`--- last lines of ${svc.paths.log} ---\n${log}\n`);
    } catch {
      // no daemon log
    }
  }

  // 4. Shut down and make sure nothing is left running, whatever happened above.
  let shutdownHung = false;
  try {
    await withTimeout(svc.shutdown(), SHUTDOWN_TIMEOUT_MS, `shutdown() did not resolve within ${SHUTDOWN_TIMEOUT_MS} ms`);
  } catch (error) {
    ok = false;
    shutdownHung = error instanceof DemoFailure;
    process.stderr.write(`FAIL: shutdown: ${error.message}\n`);
  }
  const leftovers = [...seenPids].filter(isAlive);
  if (leftovers.length > 0) {
    ok = false;
    for (const pid of leftovers) {
      process.kill(pid, 'SIGKILL');
      process.stderr.write(`FAIL: daemon pid ${pid} still alive after shutdown() (killed now)\n`);
    }
  } else if (seenPids.size > 0) {
    console.log(`shutdown: daemon ${[...seenPids].join(', ')} is gone; no daemon left behind`);
  }
  rmSync(runtimeDir, { recursive: true, force: true });
  if (!ok) process.exitCode = 1;
  // A hung shutdown() keeps polling the daemon's pid with timers of its own: do not wait for it.
  if (shutdownHung) process.exit(1);
}

await main();
