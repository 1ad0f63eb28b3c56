// One soak client process, forked by scripts/soak/main.mjs with an IPC channel. Usage:
//   node client.mjs <json spec>   spec { runtimeDir, name, options, lanes, hangMs, recycleMs?, paceMs? }
// It opens a supervised proxy on the soak's Counter and keeps `lanes` calls in flight on it
// (each lane: call, wait for the outcome, call again) until told to stop. With `recycleMs`
// ([min, max]) it is a client that keeps arriving: after a random while in that range it lets
// its calls in flight settle, disposes the proxy and opens a fresh one through a fresh
// `localSingleton()` (retrying a failed open after a short pause), so a new client meets
// whatever the chaos left (a busy, stopped, killed or shut-down daemon). Without, one proxy
// serves the whole run. With `paceMs` ([min, max]) each lane thinks that long between two
// calls, so the proxy is often idle when its daemon goes: the case where only the first call
// afterwards can tell the caller. Every call and every open is guarded by a hang deadline: one
// that has neither settled after `hangMs` is counted as a hang (and left behind; the client
// goes on). Each proxy is watched for silent object changes (./issue-order.mjs).
//
//   client -> { t: 'ready', pid }       the first proxy is open
//   main   -> { t: 'go' }               start calling
//   main   -> { t: 'stop' }             finish the calls in flight, then report
//   client -> { t: 'report', ... }      counts (see `stats` below)
// Then it disposes the proxy, lets go of the channel and exits on its own.
import { subscribe } from 'node:diagnostics_channel';
import { closeRemote, localSingleton } from 'loopback-singleton';
import { IssueOrder } from './issue-order.mjs';
import { outcomeCode } from './outcome-code.mjs';

const spec = JSON.parse(process.argv[2] ?? '{}');
const FACTORY = { module: new URL('./counter.mjs', import.meta.url), export: 'Counter' };
const hangMs = spec.hangMs;
const startedAt = Date.now();
/** Opens kept for the report (their times), so the main process can tell which met a frozen daemon. */
const MAX_OPENS_KEPT = 2000;
/** Silent object changes described in full in the report. */
const MAX_SILENT_DETAILS = 5;

const stats = {
  made: 0,
  answered: 0,
  /** code -> count */
  failed: {},
  /** code -> up to 3 messages, to tell what an unexpected code was about */
  samples: {},
  hangs: 0,
  /** { atMs, lane, what } of each hang (a call, or an open), relative to this client's go */
  hangDetails: [],
  /** answers that were not a number (the Counter only ever returns numbers) */
  badAnswers: 0,
  disposeHung: false,
  /** proxy() calls that resolved, including the first one */
  proxiesOpened: 0,
  /** code -> count of proxy() calls that rejected */
  opensFailed: {},
  /** code -> up to 3 messages */
  openSamples: {},
  /** every proxy() call { at (epoch ms), ms, code? } (code: it rejected; 'HANG': it did not settle) */
  opens: [],
  /** answers not greater than their proxy's previous answer, with no failure in between */
  silentObjectChanges: 0,
  /** the first few: { at (epoch ms), proxy (generation), seq, previous, value, previousAt } */
  silentDetails: [],
  /** this process's supervision events { at (epoch ms), event, pid }, the last 1000 */
  events: [],
};

// What this client's proxies did, for the soak's timeline (published on node:diagnostics_channel).
for (const event of ['daemon-lost', 'restart', 'reconnected', 'restart-failed', 'restart-limit']) {
  subscribe(`loopback-singleton:client:${event}`, (message) => {
    stats.events.push({ at: Date.now(), event, pid: message?.pid });
    if (stats.events.length > 1000) stats.events.shift();
  });
}

let stopping = false;
let markGo = () => {};
const go = new Promise((resolve) => (markGo = resolve));
process.on('message', (message) => {
  if (message?.t === 'go') markGo();
  if (message?.t === 'stop') {
    stopping = true;
  }
});
const send = (message) => new Promise((resolve) => process.send(message, undefined, undefined, () => resolve()));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const between = ([min, max]) => min + Math.floor(Math.random() * (max - min + 1));
let goAt = Date.now();

/** One call's (or open's) outcome: { ok }, { code, message }, or 'HANG' once `hangMs` has passed. */
async function guarded(promise) {
  let timer;
  const hang = new Promise((resolve) => (timer = setTimeout(() => resolve('HANG'), hangMs)));
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ ok: value }),
        (error) => ({ code: outcomeCode(error), message: String(error?.message ?? error) }),
      ),
      hang,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function countFailure(failed, samples, outcome) {
  failed[outcome.code] = (failed[outcome.code] ?? 0) + 1;
  samples[outcome.code] ??= [];
  const kept = samples[outcome.code];
  if (kept.length < 3) kept.push(outcome.message.slice(0, 500));
}

/** Opens a proxy through a fresh service, retrying a failed open; undefined once stopping. */
async function openProxy() {
  const service = localSingleton(spec.name, FACTORY, { runtimeDir: spec.runtimeDir, ...spec.options });
  for (;;) {
    const at = Date.now();
    const opening = service.proxy();
    const outcome = await guarded(opening);
    const ms = Date.now() - at;
    const record = (code) => {
      stats.opens.push(code === undefined ? { at, ms } : { at, ms, code });
      if (stats.opens.length > MAX_OPENS_KEPT) stats.opens.shift();
    };
    if (outcome === 'HANG') {
      record('HANG');
      stats.hangs++;
      stats.hangDetails.push({ atMs: at - goAt, lane: -1, what: 'proxy()' });
      // Should it open after all, nobody uses it.
      opening.then(
        (late) => closeRemote(late),
        () => {},
      );
    } else if ('ok' in outcome) {
      record(undefined);
      stats.proxiesOpened++;
      return outcome.ok;
    } else {
      record(outcome.code);
      countFailure(stats.opensFailed, stats.openSamples, outcome);
    }
    if (stopping) return undefined;
    await sleep(20);
  }
}

async function lane(proxy, order, index, until) {
  while (!stopping && Date.now() < until) {
    if (spec.paceMs) await sleep(between(spec.paceMs));
    if (stopping) break;
    stats.made++;
    const seq = order.issue();
    const outcome = await guarded(proxy.inc());
    order.settle(seq, outcome);
    if (outcome === 'HANG') {
      stats.hangs++;
      stats.hangDetails.push({ atMs: Date.now() - goAt - hangMs, lane: index, what: 'call' });
    } else if ('ok' in outcome) {
      stats.answered++;
      if (typeof outcome.ok !== 'number') stats.badAnswers++;
    } else {
      countFailure(stats.failed, stats.samples, outcome);
      // A failure can come back at once (a refused call, a proxy failing fast): do not spin.
      await sleep(5);
    }
  }
}

/** Disposes `proxy` (it waits for the calls in flight: a hung call would hold it forever). */
async function dispose(proxy) {
  const disposed = await guarded(closeRemote(proxy));
  if (disposed === 'HANG') stats.disposeHung = true;
}

let proxy = await openProxy();
await send({ t: 'ready', pid: process.pid, openedInMs: Date.now() - startedAt });
await go;
goAt = Date.now();
for (let generation = 0; proxy !== undefined; generation++) {
  const until = spec.recycleMs ? Date.now() + between(spec.recycleMs) : Number.POSITIVE_INFINITY;
  const order = new IssueOrder((change) => {
    stats.silentObjectChanges++;
    if (stats.silentDetails.length < MAX_SILENT_DETAILS) stats.silentDetails.push({ proxy: generation, ...change });
  });
  // Until it is time for a fresh proxy, or the stop: the lanes finish their calls in flight
  // (each bounded by the hang deadline) and issue no more.
  await Promise.all(Array.from({ length: spec.lanes }, (_, i) => lane(proxy, order, i, until)));
  await dispose(proxy);
  proxy = stopping ? undefined : await openProxy();
}

await send({ t: 'report', pid: process.pid, ...stats });
process.disconnect();
// A hung call keeps its connection (and so this process) alive: the report is out, go.
if (stats.hangs > 0 || stats.disposeHung) process.exit(0);
