// The loopback-singleton soak: several client PROCESSES call one shared Counter through
// supervised proxies (some keep one proxy, the others keep opening fresh ones: new clients
// arriving) while a chaos loop, one action every 100-500 ms, picks among these kinds:
//   sigkill           SIGKILL the daemon
//   corrupt-metadata  empty, cut or garble metadata.json in place
//   hold-lock         hold the spawn lock from another process (sometimes killed holding it)
//   shutdown          a graceful shutdown() through the API
//   shutdown-force    a forced shutdown() through the API
//   busy              a hosted call that keeps the daemon's event loop busy for 1.5-2.5 s
//   sigstop           SIGSTOP the daemon, SIGCONT it 1-3 s later (always, also on Ctrl-C)
//   delete-token      unlink the token file while the daemon serves
//   delete-socket     unlink the daemon's Unix socket (--transport ipc only)
// At most one busy or sigstop runs at a time. All along it samples the live daemons of the
// name (a stopped daemon is alive). Usage (from the repo root):
//   npm run soak -- [--seconds N] [--clients N] [--transport tcp|ipc] [--json]
//   node scripts/soak/main.mjs ...          (after `npm run build`)
// It ends with a report (a text table, or one JSON object with --json) and exits 1 when an
// invariant failed: more than one live daemon at any sample, a call or an open that hung, a
// daemon left behind after the final shutdown, a call or an open that failed with an
// unexpected code, or a silent object change (a proxy whose answers went down with no failed
// call in between: it reached a new daemon without telling its caller). Exit 2: bad flags.
// Everything happens in a fresh temp runtime dir, removed at the end: the soak never touches
// your real singletons.
import { fork, spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { closeRemote, localSingleton } from 'loopback-singleton';
import { intFlag, parseFlags, usageError } from '../lib/flags.mjs';
// The library's own zombie-aware check (not exported by the package); the scripts run after a build.
import { isProcessAlive as isAlive } from '../../dist/src/runtime/process.js';

const USAGE =
  'usage: node scripts/soak/main.mjs [--seconds N (1-86400, default 10)] [--clients N (1-32, default 4)] [--transport tcp|ipc (default tcp)] [--json] [--help]';
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
const CHAOS_PAUSE_MS = [100, 500];
/** How long a helper holds the spawn lock: uniformly random in this range. */
const LOCK_HOLD_MS = [100, 1500];
/** How long a `busy` call keeps the daemon's event loop on the CPU. */
const BUSY_MS = [1500, 2500];
/** How long a `sigstop` keeps the daemon stopped before its SIGCONT. */
const STOP_MS = [1000, 3000];
/**
 * How long an action that needs a live daemon (sigkill, sigstop, delete-socket) waits for one:
 * after a kill or a shutdown the next comes up within ~300 ms, unless a held or stale lock
 * delays it. One that finds none goes back in the bag.
 */
const TARGET_WAIT_MS = 2000;
/**
 * How long an arriving client keeps a proxy before it opens a fresh one. Client #1 keeps its
 * proxy all along and calls flat out (the long-lived, busy caller); every other client keeps
 * arriving, and thinks between its calls (PACE_MS).
 */
const RECYCLE_MS = [300, 1500];
/**
 * What an arriving client's lane waits between two calls: its proxy is then often idle when
 * the daemon goes, which is where a restart that fails no call would go unnoticed (see
 * ./issue-order.mjs).
 */
const PACE_MS = [0, 20];

/**
 * The options of every service in the soak (the clients' and this process's own, used for
 * the shutdowns and the busy calls), but the transport, which --transport sets. The restart
 * policy is deliberately generous: a chaos action every ~300 ms kills or stops the daemon
 * about twice a second, far below 1000 restarts per 10 s, so the limit is not what the soak
 * exercises (ERR_RESTART_LIMIT stays allowed, see below). The other
 * options are the defaults, written out: idle TTL 2 s, 500 ms per connect attempt, a 5 s start
 * budget (shorter than the hang deadline, so a restart that waits for a held or stale lock, or
 * for a frozen daemon, fails in time instead of hanging).
 */
const BASE_OPTIONS = {
  restart: { maxRestarts: 1000, periodMs: 10_000 },
  idleTtlMs: 2000,
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
 * - ERR_DAEMON_UNRESPONSIVE: a new client (a proxy() or a restart) found a live daemon that
 *   did not answer within startTimeoutMs (busy on the CPU, or SIGSTOPped): the library must
 *   not start a second daemon beside it, so it reports this instead.
 * Anything else (ERR_CALL_TIMEOUT, ERR_PROXY_CLOSED, ERR_FACTORY, ERR_FACTORY_MISMATCH, a
 * handshake error such as ERR_AUTH_FAILED after a deleted token, a protocol or remote error,
 * an error without a code) would be a bug. The same set applies to proxy() calls, the API
 * shutdowns and the busy calls.
 */
const EXPECTED_CODES = new Set([
  'ERR_DAEMON_LOST',
  'ERR_DAEMON_DRAINING',
  'ERR_SHUTDOWN_FORCED',
  'ERR_RESTART_LIMIT',
  'ERR_CONNECTION_FAILED',
  'ERR_DAEMON_UNRESPONSIVE',
]);

/** Every chaos kind, in report order; `delete-socket` applies to --transport ipc only. */
const ALL_CHAOS_KINDS = ['sigkill', 'corrupt-metadata', 'hold-lock', 'shutdown', 'shutdown-force', 'busy', 'sigstop', 'delete-token', 'delete-socket'];
/** The kinds that apply to `transport`. */
const chaosKindsFor = (transport) => ALL_CHAOS_KINDS.filter((kind) => kind !== 'delete-socket' || transport === 'ipc');
/** Kinds that freeze the daemon; at most one of them runs at a time (see Chaos#inProgress). */
const FREEZE_KINDS = new Set(['busy', 'sigstop']);

// ---------------------------------------------------------------------------------------
// Flags

function readFlags() {
  const values = parseFlags('soak', USAGE, {
    seconds: { type: 'string', default: '10' },
    clients: { type: 'string', default: '4' },
    transport: { type: 'string', default: 'tcp' },
    json: { type: 'boolean', default: false },
  });
  if (values.transport !== 'tcp' && values.transport !== 'ipc') usageError('soak', USAGE)(`--transport must be tcp or ipc, got "${values.transport}"`);
  return {
    seconds: intFlag('soak', USAGE, values.seconds, '--seconds', 86_400),
    clients: intFlag('soak', USAGE, values.clients, '--clients', 32),
    transport: values.transport,
    json: values.json,
  };
}

// ---------------------------------------------------------------------------------------
// Processes

/**
 * What an interrupted soak (Ctrl-C, a test's timeout) must not leave behind. `stopped`: the
 * daemons a sigstop action holds stopped right now, to be SIGCONTed whatever happens.
 */
const running = { children: new Set(), tracker: undefined, runtimeDir: undefined, stopped: new Set() };

/** SIGCONTs `pid` (a daemon a sigstop action stopped); a gone process is fine. */
function resume(pid) {
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    // gone meanwhile (SIGKILLed by another action)
  }
  running.stopped.delete(pid);
}

function resumeAll() {
  for (const pid of running.stopped) resume(pid);
}
// Also on a crash of the soak itself: a stopped daemon left behind would never exit.
process.on('exit', resumeAll);

function interrupted(signal) {
  resumeAll();
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
  constructor(svc, tracker, t0, kinds) {
    this.svc = svc;
    this.tracker = tracker;
    this.t0 = t0;
    /** The kinds that apply to this run's transport. */
    this.kinds = kinds;
    this.counts = Object.fromEntries(ALL_CHAOS_KINDS.map((kind) => [kind, 0]));
    /** kind -> variant -> count */
    this.variants = Object.fromEntries(ALL_CHAOS_KINDS.map((kind) => [kind, {}]));
    this.skipped = {};
    this.timeline = [];
    this.pending = new Set();
    /** The kinds launched at least once (see nextKind). */
    this.launched = new Set();
    this.holders = new Set();
    /** API shutdowns and busy calls (and the opening of the busy proxy) that did not settle within HANG_MS */
    this.hangs = 0;
    this.shutdownErrors = {};
    /** code -> count of busy calls (or of the busy proxy's opening) that failed */
    this.busyErrors = {};
    /** The window of each busy or sigstop action { kind, from, to } (epoch ms): the daemon was frozen. */
    this.freezes = [];
    /** The busy or sigstop action in progress, if any. */
    this.freezing = undefined;
    /** This process's own proxy, for the busy calls; opened at the first one. */
    this.busyProxy = undefined;
    this.bag = [];
  }

  /** Whether an action of `kind` is running now, so that another one would only be skipped. */
  inProgress(kind) {
    if (FREEZE_KINDS.has(kind)) return this.freezing !== undefined;
    if (kind === 'hold-lock') return this.holders.size > 0;
    return false;
  }

  /**
   * The next kind: from a shuffled bag of every kind, refilled when empty, the last one that
   * can run now (one freeze at a time, one lock holder at a time), a kind never launched
   * before any other. The order is random, yet every kind comes up about once per bag and
   * the first of each as early as it can, so even a 6 s soak has them all. A kind that cannot
   * run now stays in the bag for later; when none in the bag can, a new bag goes under it (a
   * kill, a corruption, a shutdown can always run).
   */
  nextKind() {
    const shuffled = () => {
      const bag = [...this.kinds];
      for (let i = bag.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [bag[i], bag[j]] = [bag[j], bag[i]];
      }
      return bag;
    };
    const runnable = (kind) => !this.inProgress(kind);
    const pickIndex = () => {
      const fresh = this.bag.findLastIndex((kind) => runnable(kind) && !this.launched.has(kind));
      return fresh >= 0 ? fresh : this.bag.findLastIndex(runnable);
    };
    if (this.bag.length === 0) this.bag = shuffled();
    let index = pickIndex();
    if (index < 0) {
      this.bag.unshift(...shuffled());
      index = pickIndex();
    }
    return this.bag.splice(index, 1)[0];
  }

  record(kind, variant, detail = {}) {
    this.counts[kind]++;
    this.variants[kind][variant] = (this.variants[kind][variant] ?? 0) + 1;
    this.timeline.push({ atMs: Date.now() - this.t0, kind, variant, ...detail });
  }

  /** Counts a skipped action; one skipped for want of a daemon goes back in the bag, to come up later. */
  skip(kind, why, { retry = false } = {}) {
    const key = `${kind}:${why}`;
    this.skipped[key] = (this.skipped[key] ?? 0) + 1;
    if (retry) {
      this.bag.unshift(kind);
      // Not yet done: it keeps its claim to come up early.
      if (this.counts[kind] === 0) this.launched.delete(kind);
    }
  }

  /** Runs `kind` in the background: the chaos cadence does not wait for an action to finish. */
  launch(kind) {
    this.launched.add(kind);
    const action = this[`do_${kind.replaceAll('-', '_')}`](kind).catch((error) => {
      this.skip(kind, `error: ${error?.message ?? error}`);
    });
    this.pending.add(action);
    action.finally(() => this.pending.delete(action));
  }

  /** metadata.json's record, or undefined when it holds no valid JSON object with a pid. */
  metadata() {
    try {
      const record = JSON.parse(readFileSync(this.svc.paths.metadata, 'utf8'));
      return Number.isSafeInteger(record?.pid) && record.pid > 0 ? record : undefined;
    } catch {
      return undefined;
    }
  }

  /** The daemon's pid from metadata.json, or undefined when it holds no valid record. */
  metadataPid() {
    return this.metadata()?.pid;
  }

  /**
   * The daemon to act on: the pid from metadata.json; when it holds no valid record
   * (corrupted by an earlier action, or a daemon between unpublish and exit, or none
   * published yet), the newest live daemon from daemon.log. Only ever a pid that logged as a
   * daemon of this runtime dir. Waits up to TARGET_WAIT_MS for one; undefined when there is none.
   */
  async targetDaemon() {
    const deadline = Date.now() + TARGET_WAIT_MS;
    for (;;) {
      this.tracker.poll();
      const fromMetadata = this.metadataPid();
      const live = this.tracker.live();
      if (fromMetadata !== undefined && live.includes(fromMetadata)) return { pid: fromMetadata, variant: 'metadata.json pid' };
      if (live.length > 0) return { pid: live.at(-1), variant: 'daemon.log pid (metadata.json unusable)' };
      if (Date.now() > deadline) return undefined;
      await sleep(10);
    }
  }

  async do_sigkill(kind) {
    const target = await this.targetDaemon();
    if (!target) return this.skip(kind, `no live daemon for ${TARGET_WAIT_MS} ms`, { retry: true });
    process.kill(target.pid, 'SIGKILL');
    this.record(kind, target.variant, { pid: target.pid });
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
    if (outcome === 'HANG') this.hangs++;
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

  /** Runs `action` as the one freeze in progress, and keeps its window. */
  async freeze(kind, action) {
    if (this.freezing !== undefined) return this.skip(kind, `${this.freezing} in progress`);
    this.freezing = kind;
    try {
      await action();
    } finally {
      this.freezing = undefined;
    }
  }

  /**
   * A call through this process's own supervised proxy that keeps the daemon's event loop on
   * the CPU (Counter#spin) while the clients go on calling and arriving. With no daemon
   * running, the call starts one first, which it then keeps busy.
   */
  do_busy(kind) {
    return this.freeze(kind, async () => {
      const failed = (outcome, what) => {
        if (outcome === 'HANG') {
          this.hangs++;
          return `${what} HANG`;
        }
        const code = typeof outcome?.code === 'string' ? outcome.code : 'NO_CODE';
        this.busyErrors[code] = (this.busyErrors[code] ?? 0) + 1;
        return `${what} failed: ${code}`;
      };
      if (this.busyProxy === undefined) {
        const opening = this.svc.proxy();
        const opened = await withTimeout(opening.then((proxy) => ({ proxy }), (error) => error), HANG_MS);
        if (opened === 'HANG') opening.then((late) => closeRemote(late), () => {});
        if (opened?.proxy === undefined) return this.skip(kind, failed(opened, 'proxy()'));
        this.busyProxy = opened.proxy;
      }
      const ms = between(BUSY_MS);
      const from = Date.now();
      const outcome = await withTimeout(this.busyProxy.spin(ms).then((spun) => ({ spun }), (error) => error), HANG_MS);
      const to = Date.now();
      // Whatever came back, the call was sent: the daemon spun, or was lost or stopped meanwhile.
      this.freezes.push({ kind, from, to });
      const variant = typeof outcome?.spun === 'number' ? 'spun' : failed(outcome, 'call');
      this.record(kind, variant, { atMs: from - this.t0, ms, tookMs: to - from });
    });
  }

  /** SIGSTOPs the daemon and SIGCONTs it 1-3 s later, whatever happens meanwhile. */
  do_sigstop(kind) {
    return this.freeze(kind, async () => {
      const target = await this.targetDaemon();
      if (!target) return this.skip(kind, `no live daemon for ${TARGET_WAIT_MS} ms`, { retry: true });
      const ms = between(STOP_MS);
      const from = Date.now();
      // Registered first: an interrupt between the two lines still SIGCONTs it.
      running.stopped.add(target.pid);
      process.kill(target.pid, 'SIGSTOP');
      try {
        await sleep(ms);
      } finally {
        resume(target.pid);
      }
      this.freezes.push({ kind, from, to: Date.now() });
      this.record(kind, target.variant, { atMs: from - this.t0, pid: target.pid, ms });
    });
  }

  async do_delete_token(kind) {
    this.tracker.poll();
    const live = this.tracker.live();
    try {
      unlinkSync(this.svc.paths.token);
    } catch (error) {
      if (error.code === 'ENOENT') return this.skip(kind, 'no token file', { retry: true });
      throw error;
    }
    this.record(kind, live.length > 0 ? 'while a daemon runs' : 'no daemon running', { pid: live.at(-1) });
  }

  /** Unlinks the Unix socket metadata.json names (transport ipc): the daemon runs on, unreachable. */
  async do_delete_socket(kind) {
    const deadline = Date.now() + TARGET_WAIT_MS;
    for (;;) {
      this.tracker.poll();
      const record = this.metadata();
      if (record?.transport === 'ipc' && typeof record.path === 'string' && this.tracker.live().includes(record.pid)) {
        try {
          unlinkSync(record.path);
          return this.record(kind, 'unlinked', { pid: record.pid });
        } catch (error) {
          if (error.code !== 'ENOENT') throw error;
          // already unlinked by an earlier action: wait for a daemon that has one
        }
      }
      if (Date.now() > deadline) return this.skip(kind, `no live ipc daemon with a socket in metadata.json for ${TARGET_WAIT_MS} ms`, { retry: true });
      await sleep(10);
    }
  }

  /** Waits for the actions in flight (every one is bounded); lock holders are let release. */
  async settle() {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    // Every sigstop SIGCONTs in its own finally; this is the belt to those braces.
    resumeAll();
  }

  /** Disposes this process's busy proxy. */
  async close() {
    if (this.busyProxy === undefined) return;
    const disposed = await withTimeout(closeRemote(this.busyProxy), HANG_MS);
    if (disposed === 'HANG') this.hangs++;
    this.busyProxy = undefined;
  }
}

// ---------------------------------------------------------------------------------------
// The run

async function run(flags, runtimeDir) {
  const t0 = Date.now();
  const options = { ...BASE_OPTIONS, transport: flags.transport };
  const svc = localSingleton(NAME, FACTORY, { runtimeDir, ...options });
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

  const chaos = new Chaos(svc, tracker, t0, chaosKindsFor(flags.transport));
  const spec = { runtimeDir, name: NAME, options, lanes: LANES, hangMs: HANG_MS };
  // Client #1 keeps one proxy all along; the others keep arriving (a fresh proxy now and then)
  // and think between their calls.
  const clients = Array.from({ length: flags.clients }, (_, i) => new Client(i + 1, i === 0 ? spec : { ...spec, recycleMs: RECYCLE_MS, paceMs: PACE_MS }));
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
    await chaos.close();
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
    // After a failure of the soak itself, the actions may still run: a stopped daemon must be
    // SIGCONTed before the final shutdown and the leftover check (settle does).
    await chaos.settle();
    await chaos.close();
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
  let proxiesOpened = 0;
  const opensFailed = {};
  const openSamples = {};
  const opens = [];
  let silentObjectChanges = 0;
  const silentDetails = [];
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
    proxiesOpened += report.proxiesOpened;
    for (const [code, n] of Object.entries(report.opensFailed)) opensFailed[code] = (opensFailed[code] ?? 0) + n;
    for (const [code, messages] of Object.entries(report.openSamples)) {
      const kept = (openSamples[code] ??= []);
      for (const message of messages) if (kept.length < 3 && !kept.includes(message)) kept.push(message);
    }
    opens.push(...report.opens);
    silentObjectChanges += report.silentObjectChanges;
    for (const { at, previousAt, ...change } of report.silentDetails) silentDetails.push({ client: report.pid, atMs: at - t0, previousAtMs: previousAt - t0, ...change });
  }
  silentDetails.sort((a, b) => a.atMs - b.atMs);
  // The proxy() calls that met a frozen daemon: they ran while a busy or sigstop action did.
  const meetsFreeze = (open) => chaos.freezes.some((f) => open.at <= f.to && open.at + open.ms >= f.from);
  const opensMeetingFreeze = opens.filter(meetsFreeze);
  const opensMeetingFreezeFailedByCode = {};
  for (const open of opensMeetingFreeze) {
    if (open.code !== undefined) opensMeetingFreezeFailedByCode[open.code] = (opensMeetingFreezeFailedByCode[open.code] ?? 0) + 1;
  }
  const failedTotal = Object.values(failed).reduce((a, b) => a + b, 0);
  const opensFailedTotal = Object.values(opensFailed).reduce((a, b) => a + b, 0);
  const hangs = callHangs + disposeHangs + chaos.hangs + (finalShutdown === 'HANG' ? 1 : 0);
  const unexpected = Object.keys(failed).filter((code) => !EXPECTED_CODES.has(code));
  // A proxy() that hung is counted as a hang, not as a failure.
  const unexpectedOpen = Object.keys(opensFailed).filter((code) => !EXPECTED_CODES.has(code));
  const unexpectedShutdown = Object.keys(chaos.shutdownErrors).filter((code) => !EXPECTED_CODES.has(code));
  const unexpectedBusy = Object.keys(chaos.busyErrors).filter((code) => !EXPECTED_CODES.has(code));

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
      `hangs ${hangs} (must be 0): ${callHangs} client call(s) or proxy() open(s) [${hangDetails
        .slice(0, 5)
        .map((h) => (h.what === 'proxy()' ? `client ${h.client} proxy() at ~${h.atMs} ms` : `client ${h.client} lane ${h.lane} issued at ~${h.atMs} ms`))
        .join('; ')}], ` +
        `${disposeHangs} proxy disposal(s), ${chaos.hangs + (finalShutdown === 'HANG' ? 1 : 0)} API shutdown(s) or busy call(s)`,
    );
  }
  if (leftovers.length > 0) {
    violations.push(`daemons left behind ${leftovers.length} (must be 0; metadata.json was ${finalMetadata === 'JSON' ? 'valid JSON' : finalMetadata} when the final shutdown() ran, live then: ${liveBeforeFinal.join(', ') || 'none'}): ${leftoverDetails.map((d) => `pid ${d.pid}, last lines:\n${d.lastLines.join('\n')}`).join('\n')}`);
  }
  if (unexpected.length > 0) violations.push(`calls failed with unexpected codes: ${unexpected.map((code) => `${code} x${failed[code]} (${failureSamples[code]?.[0] ?? ''})`).join('; ')}`);
  if (unexpectedOpen.length > 0) violations.push(`proxy() calls failed with unexpected codes: ${unexpectedOpen.map((code) => `${code} x${opensFailed[code]} (${openSamples[code]?.[0] ?? ''})`).join('; ')}`);
  if (unexpectedShutdown.length > 0) violations.push(`API shutdowns rejected with unexpected codes: ${unexpectedShutdown.map((code) => `${code} x${chaos.shutdownErrors[code]}`).join('; ')}`);
  if (unexpectedBusy.length > 0) violations.push(`busy calls failed with unexpected codes: ${unexpectedBusy.map((code) => `${code} x${chaos.busyErrors[code]}`).join('; ')}`);
  if (silentObjectChanges > 0) {
    // The first in full (what happened in the 3 s before); the others by time.
    const [first, ...others] = silentDetails;
    violations.push(
      `silent object changes ${silentObjectChanges} (must be 0): a proxy's answer went down with no failed call on it in between, so it reached a new object unannounced; ` +
        `first at ${first.atMs} ms, client ${first.client} proxy #${first.proxy} call #${first.seq}: answered ${first.previous} at ${first.previousAtMs} ms, then ${first.value}; the 3 s before:\n` +
        `${around(first.atMs).map((line) => `      ${line}`).join('\n')}` +
        (others.length > 0 ? `\n    later: ${others.map((o) => `at ${o.atMs} ms client ${o.client} ${o.previous} then ${o.value}`).join('; ')}` : ''),
    );
  }
  if (badAnswers > 0) violations.push(`${badAnswers} answer(s) were not numbers`);
  // A run that never saw a daemon or an answer measured nothing.
  if (maxLive === 0) violations.push('no live daemon was ever sampled');
  if (answered === 0) violations.push('no call was answered');

  return {
    ok: violations.length === 0 && silentObjectChanges === 0,
    seconds: flags.seconds,
    clients: flags.clients,
    lanesPerClient: LANES,
    transport: flags.transport,
    restart: options.restart,
    hangDeadlineMs: HANG_MS,
    durationMs: Date.now() - t0,
    chaosMs,
    callsMade: made,
    callsAnswered: answered,
    callsFailed: failedTotal,
    callsFailedByCode: failed,
    failureSamples: failureSamples,
    /** proxy() calls by the clients: the first of each, and every fresh one of an arriving client */
    proxiesOpened,
    opensFailed: opensFailedTotal,
    opensFailedByCode: opensFailed,
    openFailureSamples: openSamples,
    /** proxy() calls that ran while the daemon was busy or stopped (a new client meeting a frozen daemon) */
    opensMeetingFreeze: opensMeetingFreeze.length,
    opensMeetingFreezeFailedByCode,
    silentObjectChanges,
    silentObjectChangeDetails: silentDetails,
    hangs,
    callHangs,
    maxLiveDaemons: maxLive,
    samples,
    sampleEveryMs: SAMPLE_MS,
    maxSampleGapMs: Math.round(maxGapMs),
    daemonsStarted: tracker.daemons.size,
    leftovers: leftovers.length,
    leftoverPids: leftovers,
    /** the chaos kinds this transport has (delete-socket: ipc only); the others stay 0 */
    chaosKinds: chaos.kinds,
    chaos: chaos.counts,
    chaosTotal: Object.values(chaos.counts).reduce((a, b) => a + b, 0),
    chaosVariants: chaos.variants,
    chaosSkipped: chaos.skipped,
    noDaemonMs: Math.round(noDaemonMs),
    /** chaos actions and changes of the live daemons, in time order (ms since the start) */
    timeline,
    shutdownErrors: chaos.shutdownErrors,
    busyErrors: chaos.busyErrors,
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
  row('silent object changes', r.silentObjectChanges, 'must be 0 (an answer below its proxy\'s previous one, no failure between)');
  row('proxies opened', r.proxiesOpened, `${r.opensMeetingFreeze} proxy() call(s) met a busy or stopped daemon`);
  row('proxy() failed', r.opensFailed);
  for (const [code, n] of Object.entries(r.opensFailedByCode).sort((a, b) => b[1] - a[1])) {
    row(`  ${code}`, n, EXPECTED_CODES.has(code) ? '' : 'UNEXPECTED');
  }
  row('max live daemons seen', r.maxLiveDaemons, `must be 1 (${r.samples} samples, every ${r.sampleEveryMs} ms)`);
  row('hangs', r.hangs, `must be 0 (deadline ${r.hangDeadlineMs / 1000} s)`);
  row('daemons left behind', r.leftovers, 'must be 0 (after the final shutdown)');
  row('daemons started', r.daemonsStarted);
  row('duration', fmtSeconds(r.durationMs), `${fmtSeconds(r.chaosMs)} of chaos`);
  row('time without a daemon', fmtSeconds(r.noDaemonMs), 'killed or stopped, not yet restarted (a held lock delays restarts)');
  row('chaos actions', r.chaosTotal);
  for (const kind of ALL_CHAOS_KINDS) {
    if (!r.chaosKinds.includes(kind)) {
      row(`  ${kind}`, '-', `not applicable with --transport ${r.transport}`);
      continue;
    }
    const how = Object.entries(r.chaosVariants[kind]).sort((a, b) => b[1] - a[1]).map(([variant, n]) => `${n} ${variant}`);
    row(`  ${kind}`, r.chaos[kind], how.join(', '));
  }
  const labelWidth = Math.max(...rows.map(([label]) => label.length));
  const valueWidth = Math.max(...rows.map(([, value]) => value.length));
  const lines = [
    `loopback-singleton soak: ${r.clients} client processes x ${r.lanesPerClient} calls in flight, ${r.transport}, ${r.seconds} s of chaos, ` +
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
