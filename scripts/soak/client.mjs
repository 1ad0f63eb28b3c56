// One soak client process, forked by scripts/soak/main.mjs with an IPC channel. Usage:
//   node client.mjs <json spec>   spec { runtimeDir, name, options, lanes, hangMs }
// It opens ONE supervised proxy on the soak's Counter and keeps `lanes` calls in flight on it
// (each lane: call, wait for the outcome, call again) until told to stop. Every call is
// guarded by a hang deadline: a call that has neither answered nor failed after `hangMs` is
// counted as a hang (and left behind; the lane goes on).
//
//   client -> { t: 'ready', pid }       the proxy is open
//   main   -> { t: 'go' }               start calling
//   main   -> { t: 'stop' }             finish the calls in flight, then report
//   client -> { t: 'report', ... }      counts (see `stats` below)
// Then it disposes the proxy, lets go of the channel and exits on its own.
import { subscribe } from 'node:diagnostics_channel';
import { closeRemote, localSingleton } from 'loopback-singleton';

const spec = JSON.parse(process.argv[2] ?? '{}');
const FACTORY = { module: new URL('./counter.mjs', import.meta.url), export: 'Counter' };
const svc = localSingleton(spec.name, FACTORY, { runtimeDir: spec.runtimeDir, ...spec.options });
const hangMs = spec.hangMs;
const startedAt = Date.now();

const stats = {
  made: 0,
  answered: 0,
  /** code -> count */
  failed: {},
  /** code -> up to 3 messages, to tell what an unexpected code was about */
  samples: {},
  hangs: 0,
  /** { atMs, lane } of each hang, relative to this client's go */
  hangDetails: [],
  /** answers that were not a number (the Counter only ever returns numbers) */
  badAnswers: 0,
  disposeHung: false,
  /** this process's supervision events { at (epoch ms), event, pid }, the last 1000 */
  events: [],
};

// What this client's proxy did, for the soak's timeline (published on node:diagnostics_channel).
for (const event of ['daemon-lost', 'restart', 'reconnected', 'restart-failed', 'restart-limit']) {
  subscribe(`loopback-singleton:client:${event}`, (message) => {
    stats.events.push({ at: Date.now(), event, pid: message?.pid });
    if (stats.events.length > 1000) stats.events.shift();
  });
}

let stopping = false;
let markStop = () => {};
const stopped = new Promise((resolve) => (markStop = resolve));
let markGo = () => {};
const go = new Promise((resolve) => (markGo = resolve));
process.on('message', (message) => {
  if (message?.t === 'go') markGo();
  if (message?.t === 'stop') {
    stopping = true;
    markStop();
  }
});
const send = (message) => new Promise((resolve) => process.send(message, undefined, undefined, () => resolve()));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** One call's outcome: { ok }, { code, message }, or 'HANG' once `hangMs` has passed. */
async function guarded(promise) {
  let timer;
  const hang = new Promise((resolve) => (timer = setTimeout(() => resolve('HANG'), hangMs)));
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ ok: value }),
        (error) => ({ code: typeof error?.code === 'string' ? error.code : 'NO_CODE', message: String(error?.message ?? error) }),
      ),
      hang,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function lane(proxy, index, goAt) {
  while (!stopping) {
    stats.made++;
    const outcome = await guarded(proxy.inc());
    if (outcome === 'HANG') {
      stats.hangs++;
      stats.hangDetails.push({ atMs: Date.now() - goAt - hangMs, lane: index });
    } else if ('ok' in outcome) {
      stats.answered++;
      if (typeof outcome.ok !== 'number') stats.badAnswers++;
    } else {
      stats.failed[outcome.code] = (stats.failed[outcome.code] ?? 0) + 1;
      const samples = (stats.samples[outcome.code] ??= []);
      if (samples.length < 3) samples.push(outcome.message.slice(0, 500));
      // A failure can come back at once (a refused call, a proxy failing fast): do not spin.
      await sleep(5);
    }
  }
}

const proxy = await svc.proxy();
await send({ t: 'ready', pid: process.pid, openedInMs: Date.now() - startedAt });
await go;
const goAt = Date.now();
const lanes = Array.from({ length: spec.lanes }, (_, i) => lane(proxy, i, goAt));
await stopped;
await Promise.all(lanes);

// Disposing waits for the calls in flight; a hung call would hold it forever.
const disposed = await guarded(closeRemote(proxy));
if (disposed === 'HANG') stats.disposeHung = true;
await send({ t: 'report', pid: process.pid, ...stats });
process.disconnect();
// A hung call keeps its connection (and so this process) alive: the report is out, go.
if (stats.hangs > 0 || stats.disposeHung) process.exit(0);
