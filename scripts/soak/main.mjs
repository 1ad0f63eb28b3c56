// The loopback-singleton soak: several client PROCESSES call one shared Counter through
// supervised proxies while a chaos loop SIGKILLs the daemon, corrupts metadata.json, holds the
// spawn lock from another process and shuts the daemon down (gracefully and forced) through
// the API. All along it samples the live daemons of the name. Usage (from the repo root):
//   npm run soak -- [--seconds N] [--clients N] [--json]
//   node scripts/soak/main.mjs ...          (after `npm run build`)
// It ends with a report (a text table, or one JSON object with --json) and exits 1 when an
// invariant failed: more than one live daemon at any sample, a call that hung, a daemon left
// behind after the final shutdown, or a call that failed with an unexpected code. Exit 2: bad
// flags. Everything happens in a fresh temp runtime dir, removed at the end: the soak never
// touches your real singletons.
import { fork, spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { localSingleton } from 'loopback-singleton';
import { intFlag, parseFlags } from '../lib/flags.mjs';
// The library's own zombie-aware check (not exported by the package); the scripts run after a build.
import { isProcessAlive as isAlive } from '../../dist/src/runtime/process.js';

const USAGE =
  'usage: node scripts/soak/main.mjs [--seconds N (1-86400, default 10)] [--clients N (1-32, default 4)] [--json] [--help]';
const CLIENT = fileURLToPath(new URL('./client.mjs', import.meta.url));
const LOCK_HOLDER = fileURLToPath(new URL('./lock-holder.mjs', import.meta.url));
const FACTORY = { module: new URL('./counter.mjs', import.meta.url), export: 'Counter' };
const NAME = 'soak-counter';

/** Calls each client process keeps in flight on its one proxy. */
const LANES = 2;
/** A call (or an API shutdown) that has not settled after this long is a hang. */
const HANG_MS = 10_000;
/** How often the live daemons are sampled. */
const SAMPLE_MS = 20;
/** Pause between two chaos actions: uniformly random in this range. */
const CHAOS_PAUSE_MS = [100, 600];
/** How long a helper holds the spawn lock: uniformly random in this range. */
const LOCK_HOLD_MS = [100, 1500];

/**
 * The options of every service in the soak (the clients' and this process's own, used for
 * the shutdowns). The restart policy is deliberately generous: a chaos action every ~350 ms
 * kills or stops the daemon about twice a second, far below 1000 restarts per 10 s, so the
 * limit is not what the soak exercises (ERR_RESTART_LIMIT stays allowed, see below). The other
 * options are the defaults, written out: idle TTL 2 s, tcp, 500 ms per connect attempt, a
 * 5 s start budget (shorter than the hang deadline, so a restart that waits for a held or
 * stale lock fails in time instead of hanging).
 */
const OPTIONS = {
  restart: { maxRestarts: 1000, periodMs: 10_000 },
  idleTtlMs: 2000,
  transport: 'tcp',
  connectTimeoutMs: 500,
  startTimeoutMs: 5000,
};

/**
 * The codes a call may fail with under this chaos, and why:
 * - ERR_DAEMON_LOST: the daemon was SIGKILLed, or a shutdown closed the connection, with the
 *   call in flight (it is never replayed); also a restart that could not finish within
 *   startTimeoutMs (the spawn lock held or left stale by the helper) is a lost daemon to the
 *   caller.
 * - ERR_DAEMON_DRAINING: the call reached a daemon that a shutdown had already set draining;
 *   it did not run.
 * - ERR_SHUTDOWN_FORCED: the call was queued when a forced shutdown dropped the queue.
 * - ERR_RESTART_LIMIT: the documented fail-fast of a supervised proxy under repeated loss; the
 *   policy above makes it unlikely, but it is the library doing what it promises.
 * - ERR_CONNECTION_FAILED: the daemon could not be reached or started within startTimeoutMs
 *   (a held lock, a daemon killed mid-start) where the library reports it as such.
 * Anything else (ERR_CALL_TIMEOUT, ERR_PROXY_CLOSED, ERR_FACTORY, ERR_FACTORY_MISMATCH, a
 * handshake, protocol or remote error, an error without a code) would be a bug.
 */
const EXPECTED_CODES = new Set(['ERR_DAEMON_LOST', 'ERR_DAEMON_DRAINING', 'ERR_SHUTDOWN_FORCED', 'ERR_RESTART_LIMIT', 'ERR_CONNECTION_FAILED']);

const CHAOS_KINDS = ['sigkill', 'corrupt-metadata', 'hold-lock', 'shutdown', 'shutdown-force'];

// ---------------------------------------------------------------------------------------
// Flags

function readFlags() {
  const values = parseFlags('soak', USAGE, {
    seconds: { type: 'string', default: '10' },
    clients: { type: 'string', default: '4' },
    json: { type: 'boolean', default: false },
  });
  return {
    seconds: intFlag('soak', USAGE, values.seconds, '--seconds', 86_400),
    clients: intFlag('soak', USAGE, values.clients, '--clients', 32),
    json: values.json,
  };
}

// ---------------------------------------------------------------------------------------
// Processes

/** What an interrupted soak (Ctrl-C, a test's timeout) must not leave behind. */
const running = { children: new Set(), tracker: undefined, runtimeDir: undefined };

function interrupted(signal) {
  for (const child of running.children) child.kill('SIGKILL');
  if (running.tracker) {
    running.tracker.poll();
    for (const pid of running.tracker.live()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
    }
  }
  if (running.runtimeDir) rmSync(running.runtimeDir, { recursive: true, force: true });
  process.stderr.write(`soak: interrupted by ${signal}; clients, helpers and daemons killed, runtime dir removed\n`);
  process.exit(130);
}
process.once('SIGINT', interrupted);
process.once('SIGTERM', interrupted);

/** Tracks `child` for {@link interrupted} while it runs. */
function track(child) {
  running.children.add(child);
  child.once('exit', () => running.children.delete(child));
  return child;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const between = ([min, max]) => min + Math.floor(Math.random() * (max - min + 1));
const pick = (items) => items[Math.floor(Math.random() * items.length)];

/**
 * Follows daemon.log (and its rotation to daemon.log.1, which the library does past 1 MiB):
 * every `[daemon PID]` line names a daemon of this runtime dir. A pid once seen dead stays
 * dead, so a recycled pid is never mistaken for a daemon.
 */
class DaemonTracker {
  #path;
  #fd;
  #ino;
  #offset = 0;
  #partial = '';
  /** pid -> { dead, firstSeenMs, lines[] } */
  daemons = new Map();
  #t0;

  constructor(path, t0) {
    this.#path = path;
    this.#t0 = t0;
  }

  #ingest(text) {
    const lines = (this.#partial + text).split('\n');
    this.#partial = lines.pop();
    for (const line of lines) {
      const match = /\[daemon (\d+)\]/.exec(line);
      if (!match) continue;
      const pid = Number(match[1]);
      let daemon = this.daemons.get(pid);
      if (!daemon) {
        daemon = { dead: false, firstSeenMs: Date.now() - this.#t0, lines: [] };
        this.daemons.set(pid, daemon);
      }
      daemon.lines.push(line);
    }
  }

  #drain() {
    const buffer = Buffer.alloc(64 * 1024);
    for (;;) {
      const n = readSync(this.#fd, buffer, 0, buffer.length, this.#offset);
      if (n === 0) return;
      this.#offset += n;
      this.#ingest(buffer.toString('utf8', 0, n));
    }
  }

  /** Reads what daemon.log gained since the last call. */
  poll() {
    if (this.#fd === undefined) {
      try {
        this.#fd = openSync(this.#path, 'r');
      } catch {
        return; // no daemon has logged yet
      }
      this.#ino = fstatSync(this.#fd).ino;
      this.#offset = 0;
    }
    this.#drain();
    const now = statSync(this.#path, { throwIfNoEntry: false });
    if (now && now.ino !== this.#ino) {
      // Rotated: the rest of the old file (still ours through the fd), then the new one.
      this.#drain();
      closeSync(this.#fd);
      this.#fd = undefined;
      this.#partial = '';
      this.poll();
    }
  }

  /** The daemons alive right now. */
  live() {
    const live = [];
    for (const [pid, daemon] of this.daemons) {
      if (daemon.dead) continue;
      if (isAlive(pid)) live.push(pid);
      else daemon.dead = true;
    }
    return live;
  }

  close() {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/** A forked soak client, driven over its IPC channel. */
class Client {
  constructor(index, spec) {
    this.index = index;
    this.stderr = '';
    this.child = track(fork(CLIENT, [JSON.stringify(spec)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] }));
    this.child.stderr.setEncoding('utf8').on('data', (chunk) => (this.stderr += chunk));
    this.inbox = [];
    this.wake = () => {};
    this.child.on('message', (message) => {
      this.inbox.push(message);
      this.wake();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve(signal ?? code)));
    this.exited.then(() => this.wake());
  }

  get running() {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The next message of type `t`, or undefined when the client exits first or `timeoutMs` passes. */
  async receive(t, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.inbox.findIndex((m) => m.t === t);
      if (index >= 0) return this.inbox.splice(index, 1)[0];
      if (!this.running || Date.now() > deadline) return undefined;
      await new Promise((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 100);
      });
    }
  }

  send(message) {
    if (this.child.connected) this.child.send(message);
  }
}

function withTimeout(promise, ms) {
  let timer;
  return Promise.race([promise, new Promise((resolve) => (timer = setTimeout(() => resolve('HANG'), ms)))]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------------------
// Chaos

class Chaos {
  constructor(svc, tracker, t0) {
    this.svc = svc;
    this.tracker = tracker;
    this.t0 = t0;
    this.counts = Object.fromEntries(CHAOS_KINDS.map((kind) => [kind, 0]));
    /** kind -> variant -> count */
    this.variants = Object.fromEntries(CHAOS_KINDS.map((kind) => [kind, {}]));
    this.skipped = {};
    this.timeline = [];
    this.pending = new Set();
    this.holders = new Set();
    this.shutdownHangs = 0;
    this.shutdownErrors = {};
    this.bag = [];
  }

  /**
   * The next kind: a shuffled bag of every kind, refilled when empty. The order is random,
   * yet every kind comes up once every five actions, so even a short soak has them all.
   */
  nextKind() {
    if (this.bag.length === 0) {
      this.bag = [...CHAOS_KINDS];
      for (let i = this.bag.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [this.bag[i], this.bag[j]] = [this.bag[j], this.bag[i]];
      }
    }
    return this.bag.pop();
  }

  record(kind, variant, detail = {}) {
    this.counts[kind]++;
    this.variants[kind][variant] = (this.variants[kind][variant] ?? 0) + 1;
    this.timeline.push({ atMs: Date.now() - this.t0, kind, variant, ...detail });
  }

  skip(kind, why) {
    const key = `${kind}:${why}`;
    this.skipped[key] = (this.skipped[key] ?? 0) + 1;
  }

  /** Runs `kind` in the background: the chaos cadence does not wait for an action to finish. */
  launch(kind) {
    const action = this[`do_${kind.replace('-', '_')}`](kind).catch((error) => {
      this.skip(kind, `error: ${error?.message ?? error}`);
    });
    this.pending.add(action);
    action.finally(() => this.pending.delete(action));
  }

  /** The daemon's pid from metadata.json, or undefined when it holds no valid record. */
  metadataPid() {
    try {
      const pid = JSON.parse(readFileSync(this.svc.paths.metadata, 'utf8')).pid;
      return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  async do_sigkill(kind) {
    // The pid from metadata.json; when it holds no valid record (corrupted by an earlier
    // action, or a daemon between unpublish and exit, or none published yet), the newest live
    // daemon from daemon.log. Only ever a pid that logged as a daemon of this runtime dir.
    const deadline = Date.now() + 1000;
    for (;;) {
      this.tracker.poll();
      const fromMetadata = this.metadataPid();
      const live = this.tracker.live();
      let pid;
      let variant;
      if (fromMetadata !== undefined && live.includes(fromMetadata)) {
        [pid, variant] = [fromMetadata, 'metadata.json pid'];
      } else if (live.length > 0) {
        [pid, variant] = [live.at(-1), 'daemon.log pid (metadata.json unusable)'];
      }
      if (pid !== undefined) {
        process.kill(pid, 'SIGKILL');
        this.record(kind, variant, { pid });
        return;
      }
      if (Date.now() > deadline) return this.skip(kind, 'no live daemon for 1 s');
      await sleep(10);
    }
  }

  async do_corrupt_metadata(kind) {
    // A torn or foreign write, in place (not atomic): what a crash mid-write or another
    // program would leave.
    const path = this.svc.paths.metadata;
    let current = '';
    try {
      current = readFileSync(path, 'utf8');
    } catch {
      // absent: the corrupt file is created
    }
    const variant = pick(['emptied', 'cut mid-JSON', 'random bytes']);
    let content;
    if (variant === 'emptied') content = '';
    else if (variant === 'cut mid-JSON') {
      const source = current || '{"pid": 1, "instanceId": "x", "transport": "tcp"}';
      content = source.slice(0, Math.max(1, Math.floor(source.length / 2)));
    }
    else content = Buffer.from(Array.from({ length: between([1, 200]) }, () => Math.floor(Math.random() * 256)));
    writeFileSync(path, content, { mode: 0o600 });
    this.record(kind, variant, { pid: this.tracker.live().at(-1) });
  }

  async do_hold_lock(kind) {
    if (this.holders.size > 0) return this.skip(kind, 'a helper already holds the lock');
    // Mostly released after a while; sometimes the holder is SIGKILLed while holding, so the
    // lock is left stale and must be reclaimed (after proper-lockfile's 3 s staleness).
    const abandon = Math.random() < 0.2;
    const holdMs = between(LOCK_HOLD_MS);
    const { dir, lock } = this.svc.paths;
    const child = track(spawn(process.execPath, [LOCK_HOLDER, dir, lock, String(abandon ? 0 : holdMs)], { stdio: ['ignore', 'pipe', 'pipe'] }));
    this.holders.add(child);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    exited.then(() => this.holders.delete(child));
    let out = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    const first = new Promise((resolve) => {
      child.stdout.setEncoding('utf8').on('data', (chunk) => {
        out += chunk;
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]).t);
      });
      exited.then(() => resolve('exited'));
    });
    const said = await first;
    if (said !== 'held') {
      await exited;
      return this.skip(kind, said === 'busy' ? 'lock busy for 2 s' : `helper ${said}: ${stderr.trim().split('\n')[0] ?? ''}`);
    }
    this.record(kind, abandon ? 'holder SIGKILLed (stale lock)' : 'released', { holdMs });
    if (abandon) {
      await sleep(holdMs);
      child.kill('SIGKILL');
    }
    await exited;
  }

  async shutdown(kind, force) {
    this.tracker.poll();
    const live = this.tracker.live();
    const pid = this.metadataPid();
    const outcome = await withTimeout(
      this.svc.shutdown({ force }).then(
        () => 'resolved',
        (error) => error,
      ),
      HANG_MS,
    );
    // What it did: a shutdown() finds the daemon through metadata.json only.
    let variant = outcome === 'HANG' ? 'HANG' : 'rejected';
    if (outcome === 'resolved') {
      const stillAlive = live.filter(isAlive);
      if (live.length === 0) variant = 'none running';
      else if (stillAlive.length < live.length) variant = 'stopped it';
      else variant = `daemon still runs (metadata.json ${pid === undefined ? 'unusable' : 'valid'})`;
    }
    this.record(kind, variant, { pid, live });
    if (outcome === 'HANG') this.shutdownHangs++;
    else if (outcome !== 'resolved') {
      const code = typeof outcome?.code === 'string' ? outcome.code : 'NO_CODE';
      this.shutdownErrors[code] = (this.shutdownErrors[code] ?? 0) + 1;
    }
  }

  do_shutdown(kind) {
    return this.shutdown(kind, false);
  }

  do_shutdown_force(kind) {
    return this.shutdown(kind, true);
  }

  /** Waits for the actions in flight (every one is bounded); lock holders are let release. */
  async settle() {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}

// ---------------------------------------------------------------------------------------
// The run

async function run(flags, runtimeDir) {
  const t0 = Date.now();
  const svc = localSingleton(NAME, FACTORY, { runtimeDir, ...OPTIONS });
  const tracker = new DaemonTracker(svc.paths.log, t0);
  running.tracker = tracker;
  const violations = [];

  // Sample the live daemons from before the first spawn to after the final shutdown.
  let samples = 0;
  let maxLive = 0;
  let maxGapMs = 0;
  let lastSample = performance.now();
  const overlaps = [];
  // When the set of live daemons changed, and how long none was running.
  const liveChanges = [];
  let lastLive = '';
  let noDaemonMs = 0;
  let lastCount = 0;
  const sample = () => {
    const now = performance.now();
    if (lastCount === 0 && samples > 0) noDaemonMs += now - lastSample;
    maxGapMs = Math.max(maxGapMs, now - lastSample);
    lastSample = now;
    tracker.poll();
    const live = tracker.live();
    samples++;
    lastCount = live.length;
    maxLive = Math.max(maxLive, live.length);
    // One entry per episode (a new set of live daemons), not per sample.
    if (live.length > 1 && live.join() !== overlaps.at(-1)?.pids.join() && overlaps.length < 20) overlaps.push({ atMs: Date.now() - t0, pids: live });
    if (live.join() !== lastLive) {
      lastLive = live.join();
      liveChanges.push({ atMs: Date.now() - t0, live });
    }
  };
  const sampler = setInterval(sample, SAMPLE_MS);

  const chaos = new Chaos(svc, tracker, t0);
  const spec = { runtimeDir, name: NAME, options: OPTIONS, lanes: LANES, hangMs: HANG_MS };
  const clients = Array.from({ length: flags.clients }, (_, i) => new Client(i + 1, spec));
  let chaosMs = 0;
  const reports = [];
  try {
    const ready = await Promise.all(clients.map((c) => c.receive('ready', 30_000)));
    ready.forEach((message, i) => {
      if (!message) throw new Error(`client #${i + 1} did not open its proxy within 30 s:\n${clients[i].stderr.trim()}`);
    });
    for (const client of clients) client.send({ t: 'go' });

    // The chaos, for --seconds.
    const chaosStart = Date.now();
    const end = chaosStart + flags.seconds * 1000;
    for (;;) {
      await sleep(between(CHAOS_PAUSE_MS));
      if (Date.now() >= end) break;
      chaos.launch(chaos.nextKind());
    }
    await chaos.settle();
    chaosMs = Date.now() - chaosStart;

    // The clients finish their calls in flight (each bounded by the hang deadline) and report.
    for (const client of clients) client.send({ t: 'stop' });
    for (const client of clients) {
      const report = await client.receive('report', HANG_MS + 20_000);
      if (report) reports.push(report);
      else violations.push(`client #${client.index} (pid ${client.child.pid}) sent no report${client.stderr.trim() ? `:\n${client.stderr.trim()}` : ''}`);
    }
    // Each disposes its proxy and exits on its own.
    for (const client of clients) {
      const exit = await withTimeout(client.exited, 10_000);
      if (exit !== 0) violations.push(`client #${client.index} (pid ${client.child.pid}) ${exit === 'HANG' ? 'did not exit within 10 s' : `exited with ${exit}`}${client.stderr.trim() ? `:\n${client.stderr.trim()}` : ''}`);
    }
  } catch (error) {
    violations.push(`the soak itself failed: ${error?.stack ?? error}`);
  } finally {
    for (const client of clients) if (client.running) client.child.kill('SIGKILL');
    for (const holder of chaos.holders) holder.kill('SIGKILL');
  }

  // The final shutdown, through the API; afterwards no daemon of this runtime dir may live.
  const finalMetadata = (() => {
    try {
      JSON.parse(readFileSync(svc.paths.metadata, 'utf8'));
      return 'JSON';
    } catch (error) {
      return error.code === 'ENOENT' ? 'absent' : 'corrupt';
    }
  })();
  tracker.poll();
  const liveBeforeFinal = tracker.live();
  const finalShutdown = await withTimeout(
    svc.shutdown().then(
      () => 'resolved',
      (error) => `rejected: ${error?.code ?? ''} ${error?.message ?? error}`,
    ),
    HANG_MS,
  );
  if (finalShutdown !== 'resolved') violations.push(`the final shutdown() ${finalShutdown === 'HANG' ? `did not resolve within ${HANG_MS} ms` : finalShutdown}`);
  clearInterval(sampler);
  sample();
  const leftovers = tracker.live();
  const leftoverDetails = leftovers.map((pid) => ({ pid, lastLines: tracker.daemons.get(pid).lines.slice(-6) }));
  // Whatever the verdict: nothing of the soak stays running on this machine.
  for (const pid of leftovers) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  tracker.close();

  // Tally.
  const failed = {};
  let made = 0;
  let answered = 0;
  let callHangs = 0;
  let badAnswers = 0;
  let disposeHangs = 0;
  const failureSamples = {};
  const hangDetails = [];
  for (const report of reports) {
    made += report.made;
    answered += report.answered;
    callHangs += report.hangs;
    badAnswers += report.badAnswers;
    if (report.disposeHung) disposeHangs++;
    for (const [code, n] of Object.entries(report.failed)) failed[code] = (failed[code] ?? 0) + n;
    for (const [code, messages] of Object.entries(report.samples)) {
      const kept = (failureSamples[code] ??= []);
      for (const message of messages) if (kept.length < 3 && !kept.includes(message)) kept.push(message);
    }
    for (const hang of report.hangDetails) hangDetails.push({ client: report.pid, ...hang });
  }
  const failedTotal = Object.values(failed).reduce((a, b) => a + b, 0);
  const hangs = callHangs + disposeHangs + chaos.shutdownHangs + (finalShutdown === 'HANG' ? 1 : 0);
  const unexpected = Object.keys(failed).filter((code) => !EXPECTED_CODES.has(code));
  const unexpectedShutdown = Object.keys(chaos.shutdownErrors).filter((code) => !EXPECTED_CODES.has(code));

  const timeline = [
    ...chaos.timeline.map((a) => ({ ...a, t: 'chaos' })),
    ...liveChanges.map((c) => ({ ...c, t: 'live' })),
    ...reports.flatMap((report) => report.events.map((e) => ({ atMs: e.at - t0, t: 'client', client: report.pid, event: e.event, pid: e.pid }))),
  ].sort((a, b) => a.atMs - b.atMs);
  const describe = (e) =>
    e.t === 'chaos'
      ? `${e.atMs} ms chaos ${e.kind} (${e.variant}${e.pid ? `, pid ${e.pid}` : ''})`
      : e.t === 'client'
        ? `${e.atMs} ms client ${e.client} ${e.event} (pid ${e.pid})`
        : `${e.atMs} ms live daemons [${e.live.join(', ')}]`;
  // The 3 s before a moment, and what the clients did in the 300 ms after it.
  const around = (atMs) => timeline.filter((e) => e.atMs > atMs - 3000 && (e.atMs <= atMs || (e.t === 'client' && e.atMs <= atMs + 300))).map(describe);
  if (maxLive > 1) {
    // The first episode in full (what happened in the 3 s before, and the daemons' own log up
    // to that moment); the others by time and pids.
    const [first, ...others] = overlaps;
    const logUntil = (pid, atMs) => tracker.daemons.get(pid).lines.filter((line) => !(Date.parse(line.slice(0, 24)) > t0 + atMs + 100));
    violations.push(
      `max live daemons ${maxLive} (must be 1): first at ${first.atMs} ms, daemons ${first.pids.join(' + ')}; the 3 s before (and the clients' next 300 ms):\n` +
        `${around(first.atMs).map((line) => `      ${line}`).join('\n')}\n` +
        `    daemon.log of ${first.pids.join(' + ')} up to then:\n${first.pids.flatMap((pid) => logUntil(pid, first.atMs)).sort().map((line) => `      ${line}`).join('\n')}` +
        (others.length > 0 ? `\n    later: ${others.map((o) => `at ${o.atMs} ms ${o.pids.join(' + ')}`).join('; ')}` : ''),
    );
  }
  if (hangs > 0) {
    violations.push(
      `hangs ${hangs} (must be 0): ${callHangs} call(s) [${hangDetails.slice(0, 5).map((h) => `client ${h.client} lane ${h.lane} issued at ~${h.atMs} ms`).join('; ')}], ` +
        `${disposeHangs} proxy disposal(s), ${chaos.shutdownHangs + (finalShutdown === 'HANG' ? 1 : 0)} API shutdown(s)`,
    );
  }
  if (leftovers.length > 0) {
    violations.push(`daemons left behind ${leftovers.length} (must be 0; metadata.json was ${finalMetadata === 'JSON' ? 'valid JSON' : finalMetadata} when the final shutdown() ran, live then: ${liveBeforeFinal.join(', ') || 'none'}): ${leftoverDetails.map((d) => `pid ${d.pid}, last lines:\n${d.lastLines.join('\n')}`).join('\n')}`);
  }
  if (unexpected.length > 0) violations.push(`calls failed with unexpected codes: ${unexpected.map((code) => `${code} x${failed[code]} (${failureSamples[code]?.[0] ?? ''})`).join('; ')}`);
  if (unexpectedShutdown.length > 0) violations.push(`API shutdowns rejected with unexpected codes: ${unexpectedShutdown.map((code) => `${code} x${chaos.shutdownErrors[code]}`).join('; ')}`);
  if (badAnswers > 0) violations.push(`${badAnswers} answer(s) were not numbers`);
  // A run that never saw a daemon or an answer measured nothing.
  if (maxLive === 0) violations.push('no live daemon was ever sampled');
  if (answered === 0) violations.push('no call was answered');

  return {
    ok: violations.length === 0,
    seconds: flags.seconds,
    clients: flags.clients,
    lanesPerClient: LANES,
    restart: OPTIONS.restart,
    hangDeadlineMs: HANG_MS,
    durationMs: Date.now() - t0,
    chaosMs,
    callsMade: made,
    callsAnswered: answered,
    callsFailed: failedTotal,
    callsFailedByCode: failed,
    failureSamples: failureSamples,
    hangs,
    callHangs,
    maxLiveDaemons: maxLive,
    samples,
    sampleEveryMs: SAMPLE_MS,
    maxSampleGapMs: Math.round(maxGapMs),
    daemonsStarted: tracker.daemons.size,
    leftovers: leftovers.length,
    leftoverPids: leftovers,
    chaos: chaos.counts,
    chaosTotal: Object.values(chaos.counts).reduce((a, b) => a + b, 0),
    chaosVariants: chaos.variants,
    chaosSkipped: chaos.skipped,
    noDaemonMs: Math.round(noDaemonMs),
    /** chaos actions and changes of the live daemons, in time order (ms since the start) */
    timeline,
    shutdownErrors: chaos.shutdownErrors,
    finalShutdown,
    finalMetadata,
    liveBeforeFinal,
    violations,
  };
}

// ---------------------------------------------------------------------------------------
// Report

function fmtSeconds(ms) {
  return `${(ms / 1000).toFixed(1)} s`;
}

function textReport(r) {
  const rows = [];
  const row = (label, value, note = '') => rows.push([label, String(value), note]);
  row('calls made', r.callsMade);
  row('calls answered', r.callsAnswered);
  row('calls failed', r.callsFailed);
  for (const [code, n] of Object.entries(r.callsFailedByCode).sort((a, b) => b[1] - a[1])) {
    row(`  ${code}`, n, EXPECTED_CODES.has(code) ? '' : 'UNEXPECTED');
  }
  row('max live daemons seen', r.maxLiveDaemons, `must be 1 (${r.samples} samples, every ${r.sampleEveryMs} ms)`);
  row('hangs', r.hangs, `must be 0 (deadline ${r.hangDeadlineMs / 1000} s)`);
  row('daemons left behind', r.leftovers, 'must be 0 (after the final shutdown)');
  row('daemons started', r.daemonsStarted);
  row('duration', fmtSeconds(r.durationMs), `${fmtSeconds(r.chaosMs)} of chaos`);
  row('time without a daemon', fmtSeconds(r.noDaemonMs), 'killed or stopped, not yet restarted (a held lock delays restarts)');
  row('chaos actions', r.chaosTotal);
  for (const kind of CHAOS_KINDS) {
    const how = Object.entries(r.chaosVariants[kind]).sort((a, b) => b[1] - a[1]).map(([variant, n]) => `${n} ${variant}`);
    row(`  ${kind}`, r.chaos[kind], how.join(', '));
  }
  const labelWidth = Math.max(...rows.map(([label]) => label.length));
  const valueWidth = Math.max(...rows.map(([, value]) => value.length));
  const lines = [
    `loopback-singleton soak: ${r.clients} client processes x ${r.lanesPerClient} calls in flight, ${r.seconds} s of chaos, ` +
      `restart policy { maxRestarts: ${r.restart.maxRestarts}, periodMs: ${r.restart.periodMs} }`,
    ...rows.map(([label, value, note]) => `${label.padEnd(labelWidth)}  ${value.padStart(valueWidth)}${note ? `  ${note}` : ''}`.trimEnd()),
  ];
  lines.push(r.ok ? 'result: PASS' : 'result: FAIL');
  for (const violation of r.violations) lines.push(`  - ${violation}`);
  return `${lines.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------

async function main() {
  const flags = readFlags();
  const runtimeDir = mkdtempSync(join(tmpdir(), 'loopback-singleton-soak-'));
  running.runtimeDir = runtimeDir;
  let report;
  try {
    report = await run(flags, runtimeDir);
  } finally {
    rmSync(runtimeDir, { recursive: true, force: true });
  }
  process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : textReport(report));
  process.exitCode = report.ok ? 0 : 1;
}

await main();
