// The loopback-singleton soak: several client PROCESSES call one shared Counter through
// supervised proxies (some keep one proxy, the others keep opening fresh ones: new clients
// arriving, and one more arrives during each busy, sigstop or never-settle action) while a
// chaos loop, one action every 100-500 ms, picks among these kinds:
//   sigkill           SIGKILL the daemon
//   corrupt-metadata  empty, cut or garble metadata.json in place
//   hold-lock         hold the spawn lock from another process (sometimes killed holding it)
//   shutdown          a graceful shutdown() through the API
//   shutdown-force    a forced shutdown() through the API
//   busy              a hosted call that keeps the daemon's event loop busy for 1.5-2.5 s
//   sigstop           SIGSTOP the daemon, SIGCONT it 1-3 s later (always, also on Ctrl-C)
//   never-settle      a hosted call that never settles, then a graceful shutdown() (the
//                     daemon must exit at its drain deadline, no second one beside it)
//   delete-token      unlink the token file while the daemon serves
//   fd-starve         a client process out of file descriptors (`ulimit -n`) opens a proxy
//   clock-step        step the wall clock of one client, the daemons it starts and the lock
//                     helpers by an hour either way, or back (libfaketime; where installed)
//   delete-socket     unlink the daemon's Unix socket (--transport ipc only)
// At most one busy, sigstop or never-settle runs at a time. All along it samples the live daemons of the
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
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { localSingleton } from 'loopback-singleton';
import { intFlag, parseFlags, usageError } from '../lib/flags.mjs';
import { ALL_CHAOS_KINDS, Chaos, chaosKindsFor, LIBFAKETIME, resumeStopped, steppedClockEnv, withTimeout } from './chaos.mjs';
import { DaemonTracker } from './daemon-tracker.mjs';

const USAGE =
  'usage: node scripts/soak/main.mjs [--seconds N (1-86400, default 10)] [--clients N (1-32, default 4)] [--transport tcp|ipc (default tcp)] [--json] [--help]';
const CLIENT = fileURLToPath(new URL('./client.mjs', import.meta.url));
const FACTORY = { module: new URL('./counter.mjs', import.meta.url), export: 'Counter' };
const NAME = 'soak-counter';

/** Calls each client process keeps in flight on its one proxy. */
const LANES = 2;
/** A call, an open, an API shutdown or a busy call that has not settled after this long is a hang. */
const HANG_MS = 10_000;
/** How often the live daemons are sampled. */
const SAMPLE_MS = 20;
/** Pause between two chaos actions: uniformly random in this range. */
const CHAOS_PAUSE_MS = [100, 500];
/**
 * How long the chaos may go on past `--seconds` while a kind has not happened yet: a loaded
 * machine fits fewer actions (and fewer multi-second freezes) in the same seconds, and a run
 * counts outcomes, never what the clock allowed.
 */
const CHAOS_OVERTIME_MS = 30_000;
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
 * the shutdowns and the busy calls), but the transport, which --transport sets. The drain
 * deadline is short (1.5 s, default 5 s), so that a never-settle action ends well within the
 * hang deadline, and new clients wait for a draining daemon within their start budget. The restart
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
  drainTimeoutMs: 1500,
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
 * - ERR_FACTORY_BOOT_TIMEOUT (./outcome-code.mjs): ERR_FACTORY for a daemon that did not finish
 *   creating the object within its boot timeout: frozen by the chaos or starved by the machine
 *   while it booted on a short restart budget (the counter's factory itself returns at once).
 * Anything else (ERR_CALL_TIMEOUT, ERR_PROXY_CLOSED, any other ERR_FACTORY, ERR_FACTORY_MISMATCH, a
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
  'ERR_FACTORY_BOOT_TIMEOUT',
]);

/**
 * What a client out of file descriptors (fd-starve) may fail with besides: the library's
 * clear error for a read that failed for want of resources (never taken for a stale file).
 */
const STARVED_CODES = new Set(['ERR_LOOPBACK_SINGLETON']);

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

/** What an interrupted soak (Ctrl-C, a test's timeout) must not leave behind. */
const running = { children: new Set(), tracker: undefined, runtimeDir: undefined };

// Also on a crash of the soak itself: a stopped daemon left behind would never exit.
process.on('exit', resumeStopped);

function interrupted(signal) {
  // A stopped daemon is SIGCONTed first, then killed with the others.
  resumeStopped();
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

/** A forked soak client, driven over its IPC channel. */
class Client {
  /** @param env the client's environment (the stepped clock's, for one of them) */
  constructor(index, spec, env = process.env) {
    this.index = index;
    this.stderr = '';
    this.child = track(fork(CLIENT, [JSON.stringify(spec)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env }));
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

// ---------------------------------------------------------------------------------------
// Chaos

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

  // The stepped clock (clock-step): a file beside the singleton's directory, true at first.
  const clockFile = LIBFAKETIME === undefined ? undefined : join(runtimeDir, 'clock');
  if (clockFile !== undefined) writeFileSync(clockFile, '+0\n');
  const chaos = new Chaos({
    svc,
    tracker,
    t0,
    kinds: chaosKindsFor(flags.transport),
    hangMs: HANG_MS,
    track,
    options: { runtimeDir, ...options },
    clockFile,
    newService: () => localSingleton(NAME, FACTORY, { runtimeDir, ...options }),
  });
  const spec = { runtimeDir, name: NAME, options, lanes: LANES, hangMs: HANG_MS };
  // Client #1 keeps one proxy all along; the others keep arriving (a fresh proxy now and then)
  // and think between their calls. The last one (with 2 or more) lives on the stepped clock.
  const clients = Array.from({ length: flags.clients }, (_, i) => {
    const env = clockFile !== undefined && i > 0 && i === flags.clients - 1 ? steppedClockEnv(clockFile) : process.env;
    return new Client(i + 1, i === 0 ? spec : { ...spec, recycleMs: RECYCLE_MS, paceMs: PACE_MS }, env);
  });
  let chaosMs = 0;
  const reports = [];
  try {
    const ready = await Promise.all(clients.map((c) => c.receive('ready', 30_000)));
    ready.forEach((message, i) => {
      if (!message) throw new Error(`client #${i + 1} did not open its proxy within 30 s:\n${clients[i].stderr.trim()}`);
    });
    const notOpened = await chaos.open();
    if (notOpened !== undefined)
      throw new Error(`the soak's own proxy (for the busy calls) did not open: ${notOpened === 'HANG' ? 'HANG' : (notOpened?.stack ?? notOpened)}`);
    for (const client of clients) client.send({ t: 'go' });

    // The chaos, for --seconds, and past them (bounded) until every kind has happened once.
    const chaosStart = Date.now();
    const end = chaosStart + flags.seconds * 1000;
    for (;;) {
      await sleep(between(CHAOS_PAUSE_MS));
      const now = Date.now();
      if (now < end) {
        chaos.launch(chaos.nextKind());
        continue;
      }
      // Overtime: only the kinds that have not happened yet, one launch of each at a time.
      const missing = chaos.missing();
      if (missing.length === 0 || now >= end + CHAOS_OVERTIME_MS) break;
      const kind = missing.find((k) => chaos.runnableAlone(k));
      if (kind !== undefined) chaos.launch(kind);
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
      if (exit !== 0)
        violations.push(
          `client #${client.index} (pid ${client.child.pid}) ${exit === 'HANG' ? 'did not exit within 10 s' : `exited with ${exit}`}${client.stderr.trim() ? `:\n${client.stderr.trim()}` : ''}`,
        );
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
      failureSamples[code] ??= [];
      const kept = failureSamples[code];
      for (const message of messages) if (kept.length < 3 && !kept.includes(message)) kept.push(message);
    }
    for (const hang of report.hangDetails) hangDetails.push({ client: report.pid, ...hang });
    proxiesOpened += report.proxiesOpened;
    for (const [code, n] of Object.entries(report.opensFailed)) opensFailed[code] = (opensFailed[code] ?? 0) + n;
    for (const [code, messages] of Object.entries(report.openSamples)) {
      openSamples[code] ??= [];
      const kept = openSamples[code];
      for (const message of messages) if (kept.length < 3 && !kept.includes(message)) kept.push(message);
    }
    opens.push(...report.opens);
    silentObjectChanges += report.silentObjectChanges;
    for (const { at, previousAt, ...change } of report.silentDetails) silentDetails.push({ client: report.pid, atMs: at - t0, previousAtMs: previousAt - t0, ...change });
  }
  silentDetails.sort((a, b) => a.atMs - b.atMs);
  // The clients that arrived during a freeze (see Chaos#freeze) opened their proxy like the others.
  for (const arrival of chaos.arrivals) {
    if (arrival.code === undefined) proxiesOpened++;
    else if (arrival.code !== 'HANG') opensFailed[arrival.code] = (opensFailed[arrival.code] ?? 0) + 1;
    opens.push(arrival);
  }
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
  const unexpectedStarved = Object.keys(chaos.starvedErrors).filter((code) => !EXPECTED_CODES.has(code) && !STARVED_CODES.has(code));

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
        `${around(first.atMs)
          .map((line) => `      ${line}`)
          .join('\n')}\n` +
        `    daemon.log of ${first.pids.join(' + ')} up to then:\n${first.pids
          .flatMap((pid) => logUntil(pid, first.atMs))
          .sort()
          .map((line) => `      ${line}`)
          .join('\n')}` +
        (others.length > 0 ? `\n    later: ${others.map((o) => `at ${o.atMs} ms ${o.pids.join(' + ')}`).join('; ')}` : ''),
    );
  }
  if (hangs > 0) {
    violations.push(
      `hangs ${hangs} (must be 0): ${callHangs} client call(s) or proxy() open(s) [${hangDetails
        .slice(0, 5)
        .map((h) => (h.what === 'proxy()' ? `client ${h.client} proxy() at ~${h.atMs} ms` : `client ${h.client} lane ${h.lane} issued at ~${h.atMs} ms`))
        .join('; ')}], ` +
        `${disposeHangs} proxy disposal(s), ${chaos.hangs + (finalShutdown === 'HANG' ? 1 : 0)} API shutdown(s) or busy call(s) [${[...chaos.hangKinds, ...(finalShutdown === 'HANG' ? ['final shutdown()'] : [])].join('; ')}]`,
    );
  }
  if (leftovers.length > 0) {
    violations.push(
      `daemons left behind ${leftovers.length} (must be 0; metadata.json was ${finalMetadata === 'JSON' ? 'valid JSON' : finalMetadata} when the final shutdown() ran, live then: ${liveBeforeFinal.join(', ') || 'none'}): ${leftoverDetails.map((d) => `pid ${d.pid}, last lines:\n${d.lastLines.join('\n')}`).join('\n')}`,
    );
  }
  if (unexpected.length > 0)
    violations.push(`calls failed with unexpected codes: ${unexpected.map((code) => `${code} x${failed[code]} (${failureSamples[code]?.[0] ?? ''})`).join('; ')}`);
  if (unexpectedOpen.length > 0)
    violations.push(
      `proxy() calls failed with unexpected codes: ${unexpectedOpen.map((code) => `${code} x${opensFailed[code]} (${openSamples[code]?.[0] ?? ''})`).join('; ')}`,
    );
  if (unexpectedShutdown.length > 0)
    violations.push(`API shutdowns rejected with unexpected codes: ${unexpectedShutdown.map((code) => `${code} x${chaos.shutdownErrors[code]}`).join('; ')}`);
  if (unexpectedBusy.length > 0)
    violations.push(`busy or never-settle calls failed with unexpected codes: ${unexpectedBusy.map((code) => `${code} x${chaos.busyErrors[code]}`).join('; ')}`);
  if (unexpectedStarved.length > 0)
    violations.push(`starved clients failed with unexpected codes: ${unexpectedStarved.map((code) => `${code} x${chaos.starvedErrors[code]}`).join('; ')}`);
  if (silentObjectChanges > 0) {
    // The first in full (what happened in the 3 s before); the others by time.
    const [first, ...others] = silentDetails;
    violations.push(
      `silent object changes ${silentObjectChanges} (must be 0): a proxy's answer went down with no failed call on it in between, so it reached a new object unannounced; ` +
        `first at ${first.atMs} ms, client ${first.client} proxy #${first.proxy} call #${first.seq}: answered ${first.previous} at ${first.previousAtMs} ms, then ${first.value}; the 3 s before:\n` +
        `${around(first.atMs)
          .map((line) => `      ${line}`)
          .join('\n')}` +
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
    starvedErrors: chaos.starvedErrors,
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
  row('silent object changes', r.silentObjectChanges, "must be 0 (an answer below its proxy's previous one, no failure between)");
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
      row(`  ${kind}`, '-', kind === 'clock-step' ? 'not applicable: libfaketime is not installed' : `not applicable with --transport ${r.transport}`);
      continue;
    }
    const how = Object.entries(r.chaosVariants[kind])
      .sort((a, b) => b[1] - a[1])
      .map(([variant, n]) => `${n} ${variant}`);
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
