// The soak's chaos (used by ./main.mjs): one class whose `do_<kind>` methods each do one
// thing to the daemon of the soak's singleton, recording what they did. Every action is
// bounded in time, and whatever it starts or stops it ends or resumes itself.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { closeRemote } from 'loopback-singleton';
// The library's own zombie-aware check (not exported by the package); the scripts run after a build.
import { isProcessAlive as isAlive } from '../../dist/src/runtime/process.js';
import { outcomeCode } from './outcome-code.mjs';

const LOCK_HOLDER = fileURLToPath(new URL('./lock-holder.mjs', import.meta.url));
const STARVED_CLIENT = fileURLToPath(new URL('./starved-client.mjs', import.meta.url));

/**
 * libfaketime (Debian's package `faketime`), for the `clock-step` chaos: preloaded into one
 * soak client (and whatever it starts) and into the lock helpers, it makes their wall clock
 * follow a file the chaos rewrites (a step of an hour either way), while their monotonic
 * clock runs on. Undefined where it is not installed: `clock-step` then does not apply.
 */
export const LIBFAKETIME = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1',
  '/usr/lib/faketime/libfaketime.so.1',
].find((path) => existsSync(path));

/** The environment that puts a process on the stepped clock of `clockFile`. */
export function steppedClockEnv(clockFile) {
  return { ...process.env, LD_PRELOAD: LIBFAKETIME, FAKETIME_TIMESTAMP_FILE: clockFile, FAKETIME_NO_CACHE: '1', DONT_FAKE_MONOTONIC: '1' };
}

/** How long a helper holds the spawn lock: uniformly random in this range. */
const LOCK_HOLD_MS = [100, 1500];
/** How long a `busy` call keeps the daemon's event loop on the CPU. */
const BUSY_MS = [1500, 2500];
/** How long a `never-settle` call runs before this process asks for a graceful shutdown. */
const NEVER_SETTLE_MS = [100, 400];
/** How long a never-settle action waits for its call after a shutdown before asking again. */
const RETRY_SHUTDOWN_MS = 1000;
/** The `ulimit -n` of a starved client, and how many descriptors it frees again before it calls. */
const STARVED_FD_LIMIT = 256;
const STARVED_FREE = [0, 8];
/** What a starved client's process may take besides its two bounded stages: Node's start and exit on a loaded machine. */
const STARVED_PROCESS_SLACK_MS = 20_000;
/** The steps of the stepped clock (libfaketime's offset syntax). */
const CLOCK_STEPS = ['+1h', '-1h', '+0'];
/** How soon after a freeze has begun a client arrives (see Chaos#freeze). */
const ARRIVAL_AFTER_MS = 100;
/** How long a `sigstop` keeps the daemon stopped before its SIGCONT. */
const STOP_MS = [1000, 3000];
/**
 * How long an action that needs a live daemon (sigkill, sigstop, delete-socket) waits for one:
 * after a kill or a shutdown the next comes up within ~300 ms, unless a held or stale lock
 * delays it. One that finds none goes back in the bag.
 */
const TARGET_WAIT_MS = 2000;

/**
 * Every chaos kind, in report order; `delete-socket` applies to --transport ipc only,
 * `clock-step` where libfaketime is installed.
 */
export const ALL_CHAOS_KINDS = [
  'sigkill',
  'corrupt-metadata',
  'hold-lock',
  'shutdown',
  'shutdown-force',
  'busy',
  'sigstop',
  'never-settle',
  'delete-token',
  'fd-starve',
  'clock-step',
  'delete-socket',
];
/** The kinds that apply to `transport` on this machine. */
export const chaosKindsFor = (transport) =>
  ALL_CHAOS_KINDS.filter((kind) => (kind !== 'delete-socket' || transport === 'ipc') && (kind !== 'clock-step' || LIBFAKETIME !== undefined));
/** Kinds that freeze the daemon's object; at most one of them runs at a time (see Chaos#inProgress). */
const FREEZE_KINDS = new Set(['busy', 'sigstop', 'never-settle']);

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const between = ([min, max]) => min + Math.floor(Math.random() * (max - min + 1));
const pick = (items) => items[Math.floor(Math.random() * items.length)];

/** `promise`, or 'HANG' once `ms` have passed. */
export function withTimeout(promise, ms) {
  let timer;
  return Promise.race([promise, new Promise((resolve) => (timer = setTimeout(() => resolve('HANG'), ms)))]).finally(() => clearTimeout(timer));
}

/**
 * The daemons a sigstop action holds stopped right now, to be SIGCONTed whatever happens:
 * by the action, by Chaos#settle, and by the soak's signal and exit handlers
 * ({@link resumeStopped}).
 */
const stopped = new Set();

/** SIGCONTs `pid` (a daemon a sigstop action stopped); a gone process is fine. */
function resume(pid) {
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    // gone meanwhile (SIGKILLed by another action)
  }
  stopped.delete(pid);
}

/** SIGCONTs every daemon a sigstop action holds stopped. Synchronous: safe in an exit handler. */
export function resumeStopped() {
  for (const pid of stopped) resume(pid);
}

export class Chaos {
  /**
   * @param svc this process's service of the soak's singleton (shutdowns, busy calls, paths)
   * @param kinds the kinds that apply to the run's transport ({@link chaosKindsFor})
   * @param track registers a helper process the soak must kill if interrupted; returns it
   */
  /**
   * @param options the soak's service options, runtimeDir included (for the starved clients)
   * @param clockFile the stepped clock's file (`clock-step`), undefined without libfaketime
   */
  constructor({ svc, tracker, t0, kinds, hangMs, track, options, clockFile, newService }) {
    this.svc = svc;
    /** Makes a fresh service of the soak's singleton: a client arriving (see #freeze). */
    this.newService = newService;
    /** The proxy() calls of the clients that arrived during a freeze, as the clients record theirs { at, ms, code? } */
    this.arrivals = [];
    /** Set while a freeze is in progress and its client has arrived (or is about to). */
    this.arrival = undefined;
    this.options = options;
    this.clockFile = clockFile;
    /** code -> count of starved clients' proxy() or call failures */
    this.starvedErrors = {};
    this.hangMs = hangMs;
    this.track = track;
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
    /** kind -> actions of that kind still running */
    this.running = Object.fromEntries(ALL_CHAOS_KINDS.map((kind) => [kind, 0]));
    /** The kinds launched at least once (see nextKind). */
    this.launched = new Set();
    this.holders = new Set();
    /** API shutdowns and busy calls (and the opening of the busy proxy) that did not settle within this.hangMs */
    this.hangs = 0;
    /** Which actions those were (`kind: what`), for the report. */
    this.hangKinds = [];
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
   * before any other and a freeze never launched first. The order is random, yet every kind
   * comes up about once per bag and the first of each as early as it can, so even a 6 s soak
   * has them all. A kind that cannot
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
    const fresh = (kind) => runnable(kind) && !this.launched.has(kind);
    const pickIndex = () => {
      // The freezes first: they last seconds and run one at a time, so in a short soak they
      // must start early to both come up.
      for (const test of [(kind) => fresh(kind) && FREEZE_KINDS.has(kind), fresh, runnable]) {
        const index = this.bag.findLastIndex(test);
        if (index >= 0) return index;
      }
      return -1;
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
    this.running[kind]++;
    const action = this[`do_${kind.replaceAll('-', '_')}`](kind).catch((error) => {
      this.skip(kind, `error: ${error?.message ?? error}`);
    });
    this.pending.add(action);
    action.finally(() => {
      this.pending.delete(action);
      this.running[kind]--;
    });
  }

  /** The kinds of this run that have not happened yet (launched and skipped count as not). */
  missing() {
    return this.kinds.filter((kind) => this.counts[kind] === 0);
  }

  /** Whether `kind` can be launched now with no other action of its kind still running. */
  runnableAlone(kind) {
    return this.running[kind] === 0 && !this.inProgress(kind);
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
    } else content = Buffer.from(Array.from({ length: between([1, 200]) }, () => Math.floor(Math.random() * 256)));
    writeFileSync(path, content, { mode: 0o600 });
    this.record(kind, variant, { pid: this.tracker.live().at(-1) });
  }

  async do_hold_lock(kind) {
    if (this.holders.size > 0) return this.skip(kind, 'a helper already holds the lock');
    // Mostly released after a while; sometimes the holder is SIGKILLed while holding, so the
    // lock is left stale and must be reclaimed (its holder record names a dead process).
    const abandon = Math.random() < 0.2;
    const holdMs = between(LOCK_HOLD_MS);
    const { dir, lock } = this.svc.paths;
    // On the stepped clock where there is one: a step while it holds the lock must not let
    // anybody take the lock over.
    const env = this.clockFile === undefined ? process.env : steppedClockEnv(this.clockFile);
    const child = this.track(spawn(process.execPath, [LOCK_HOLDER, dir, lock, String(abandon ? 0 : holdMs)], { stdio: ['ignore', 'pipe', 'pipe'], env }));
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
      this.hangMs,
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
    if (outcome === 'HANG') this.hung(kind, `shutdown({ force: ${force} })`);
    else if (outcome !== 'resolved') {
      const code = outcomeCode(outcome);
      this.shutdownErrors[code] = (this.shutdownErrors[code] ?? 0) + 1;
    }
  }

  do_shutdown(kind) {
    return this.shutdown(kind, false);
  }

  do_shutdown_force(kind) {
    return this.shutdown(kind, true);
  }

  /**
   * Runs `action` as the one freeze in progress, and keeps its window. Once the daemon is frozen
   * (the action calls {@link frozen}), a new client arrives: the clients' own arrivals are
   * random, so without it a short soak could have no new client meet a busy or stopped daemon.
   */
  async freeze(kind, action) {
    if (this.freezing !== undefined) return this.skip(kind, `${this.freezing} in progress`);
    this.freezing = kind;
    try {
      await action();
    } finally {
      await this.arrival;
      this.arrival = undefined;
      this.freezing = undefined;
    }
  }

  /** The freeze in progress has frozen the daemon: a client arrives shortly (once per freeze). */
  frozen() {
    this.arrival ??= sleep(ARRIVAL_AFTER_MS).then(() => this.arrive());
  }

  /** A client arriving now: a fresh service's proxy(), recorded as the clients record theirs. */
  async arrive() {
    const at = Date.now();
    const opening = this.newService().proxy();
    const opened = await withTimeout(
      opening.then(
        (proxy) => ({ proxy }),
        (error) => error,
      ),
      this.hangMs,
    );
    const ms = Date.now() - at;
    if (opened === 'HANG') {
      this.hung('arrival', 'proxy()');
      this.arrivals.push({ at, ms, code: 'HANG' });
      opening.then(
        (late) => closeRemote(late),
        () => {},
      );
      return;
    }
    if (opened?.proxy === undefined) {
      this.arrivals.push({ at, ms, code: outcomeCode(opened) });
      return;
    }
    this.arrivals.push({ at, ms });
    await closeRemote(opened.proxy);
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
          this.hung(kind, what);
          return `${what} HANG`;
        }
        const code = outcomeCode(outcome);
        this.busyErrors[code] = (this.busyErrors[code] ?? 0) + 1;
        return `${what} failed: ${code}`;
      };
      if (this.busyProxy === undefined) {
        const opened = await this.open();
        // (A proxy() the chaos made fail, a kill or a corrupted record at that moment: the
        // freeze comes up again later, so that a short soak still has one of each.)
        if (opened !== undefined) return this.skip(kind, failed(opened, 'proxy()'), { retry: true });
      }
      const ms = between(BUSY_MS);
      const from = Date.now();
      const spinning = this.busyProxy.spin(ms);
      this.frozen();
      const outcome = await withTimeout(
        spinning.then(
          (spun) => ({ spun }),
          (error) => error,
        ),
        this.hangMs,
      );
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
      stopped.add(target.pid);
      process.kill(target.pid, 'SIGSTOP');
      this.frozen();
      try {
        await sleep(ms);
      } finally {
        resume(target.pid);
      }
      this.freezes.push({ kind, from, to: Date.now() });
      this.record(kind, target.variant, { atMs: from - this.t0, pid: target.pid, ms });
    });
  }

  /**
   * A call to a method that never settles (Counter#hang) through this process's proxy, then a
   * graceful shutdown: the daemon must exit at its drain deadline with the method still
   * running, the call then fails (ERR_DAEMON_LOST), and nobody starts a second daemon beside
   * the draining one.
   */
  do_never_settle(kind) {
    return this.freeze(kind, async () => {
      if (this.busyProxy === undefined) {
        const opened = await this.open();
        // As for busy: a proxy() the chaos made fail lets the freeze come up again later.
        if (opened !== undefined) return this.skip(kind, `proxy() ${opened === 'HANG' ? 'HANG' : `failed: ${opened?.code ?? 'NO_CODE'}`}`, { retry: true });
      }
      const from = Date.now();
      const call = this.busyProxy.hang().then(
        () => 'settled',
        (error) => error,
      );
      this.frozen();
      await sleep(between(NEVER_SETTLE_MS));
      const stopped = await withTimeout(
        this.svc.shutdown().then(
          () => 'resolved',
          (error) => error,
        ),
        this.hangMs,
      );
      // The call must end once the shutdown has stopped its daemon. A shutdown that found no
      // usable record (the corrupt-metadata chaos) resolves with the daemon still running, its
      // mailbox held by hang() for good: asked again, as a user would, once the daemon has
      // mended its record. The call's deadline runs from the first shutdown's end.
      const deadline = Date.now() + this.hangMs;
      let outcome = await withTimeout(call, Math.min(RETRY_SHUTDOWN_MS, this.hangMs));
      let retries = 0;
      while (outcome === 'HANG' && Date.now() < deadline) {
        retries++;
        await withTimeout(
          this.svc.shutdown().catch(() => {}),
          Math.max(1, deadline - Date.now()),
        );
        outcome = await withTimeout(call, Math.max(1, Math.min(RETRY_SHUTDOWN_MS, deadline - Date.now())));
      }
      const to = Date.now();
      this.freezes.push({ kind, from, to });
      for (const [what, value] of [
        ['shutdown()', stopped],
        ['hang() call', outcome],
      ]) {
        if (value === 'HANG') this.hung(kind, what);
        else if (value !== 'resolved' && value !== 'settled') this.busyErrors[outcomeCode(value)] = (this.busyErrors[outcomeCode(value)] ?? 0) + 1;
      }
      const variant = `call ${outcome === 'HANG' || outcome === 'settled' ? outcome : `failed: ${outcomeCode(outcome)}`}, shutdown ${stopped === 'HANG' || stopped === 'resolved' ? stopped : `failed: ${outcomeCode(stopped)}`}${retries > 0 ? ' (asked again: no usable record the first time)' : ''}`;
      this.record(kind, variant, { atMs: from - this.t0, tookMs: to - from });
    });
  }

  /**
   * A client process out of file descriptors (./starved-client.mjs under `ulimit -n`): it
   * may fail, with a clear error, but its failed reads must never be taken for stale files.
   */
  async do_fd_starve(kind) {
    const free = between(STARVED_FREE);
    const spec = JSON.stringify({ runtimeDir: this.options.runtimeDir, name: this.svc.name, options: this.options, free, hangMs: this.hangMs });
    const child = this.track(
      spawn('/bin/sh', ['-c', `ulimit -n ${STARVED_FD_LIMIT} && exec "$0" "$@"`, process.execPath, STARVED_CLIENT, spec], { stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    let out = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    // The client bounds its proxy() and its call by hangMs itself and says so; this bound is for
    // a process stuck outside them (its own start, its exit), after both stages at most.
    const exited = await withTimeout(new Promise((resolve) => child.once('exit', resolve)), 2 * this.hangMs + STARVED_PROCESS_SLACK_MS);
    if (exited === 'HANG') {
      child.kill('SIGKILL');
      this.hung(kind, 'starved client process');
      return this.record(kind, 'HANG', { free });
    }
    const line = out.split('\n').find((l) => l.startsWith('{'));
    if (line === undefined) return this.skip(kind, `starved client said nothing: ${stderr.trim().split('\n')[0] ?? ''}`);
    const outcome = JSON.parse(line);
    if (outcome.hung) {
      this.hung(kind, `starved client ${outcome.stage}`);
      return this.record(kind, `${outcome.stage} HANG`, { free, held: outcome.held });
    }
    if (!outcome.answered) this.starvedErrors[outcome.code] = (this.starvedErrors[outcome.code] ?? 0) + 1;
    this.record(kind, outcome.answered ? 'answered' : `${outcome.stage} failed: ${outcome.code}`, { free, held: outcome.held });
  }

  /** Steps the wall clock of the processes on the stepped clock by an hour, either way, or back. */
  async do_clock_step(kind) {
    let current = '+0';
    try {
      current = readFileSync(this.clockFile, 'utf8').trim();
    } catch {
      // not written yet: the clock is true
    }
    const step = pick(CLOCK_STEPS.filter((s) => s !== current));
    writeFileSync(this.clockFile, `${step}\n`);
    this.record(kind, `${current} -> ${step}`);
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

  /** Counts an action of `kind` that did not settle within this.hangMs. */
  hung(kind, what) {
    this.hangs++;
    this.hangKinds.push(`${kind}: ${what}`);
  }

  /** Waits for the actions in flight (every one is bounded); lock holders are let release. */
  async settle() {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    // Every sigstop SIGCONTs in its own finally; this is the belt to those braces.
    resumeStopped();
  }

  /**
   * Opens this process's proxy for the busy calls (the soak does before the chaos starts, so
   * that a busy action spends its turn spinning, not starting). Undefined when it is open;
   * else the error, or 'HANG'.
   */
  async open() {
    const opening = this.svc.proxy();
    const opened = await withTimeout(
      opening.then(
        (proxy) => ({ proxy }),
        (error) => error,
      ),
      this.hangMs,
    );
    // Should it open after all, nobody uses it.
    if (opened === 'HANG')
      opening.then(
        (late) => closeRemote(late),
        () => {},
      );
    if (opened?.proxy === undefined) return opened;
    this.busyProxy = opened.proxy;
    return undefined;
  }

  /** Disposes this process's busy proxy. */
  async close() {
    if (this.busyProxy === undefined) return;
    const disposed = await withTimeout(closeRemote(this.busyProxy), this.hangMs);
    if (disposed === 'HANG') this.hung('close', 'closeRemote(busy proxy)');
    this.busyProxy = undefined;
  }
}
