// A soak chaos helper: a client process starved of file descriptors. Started by
// ./chaos.mjs under a low `ulimit -n`; it opens /dev/null until the process is out of
// descriptors (EMFILE), frees `free` of them again, then opens a proxy on the soak's Counter
// and makes one call. Usage:
//   node starved-client.mjs <json spec>   spec { runtimeDir, name, options, free, hangMs }
// Prints one JSON line on stdout: { t: 'outcome', stage, answered, hung?, code?, message?, held }
// (stage: 'proxy()' or 'call', where it ended; hung: that stage did not settle within hangMs,
// the soak's bound for a call or an open, timed here so that the process's own start on a
// loaded machine is not counted against the library). Exits on its own; a library that took the
// failed reads for stale files would delete the record and let a second daemon start, which
// the soak's live-daemon samples and silent-change detector catch.
import { closeSync, openSync } from 'node:fs';
import { closeRemote, localSingleton } from 'loopback-singleton';
import { outcomeCode } from './outcome-code.mjs';

const spec = JSON.parse(process.argv[2] ?? '{}');
const FACTORY = { module: new URL('./counter.mjs', import.meta.url), export: 'Counter' };
/** No more than this many, whatever the limit: the parent sets a low `ulimit -n`. */
const MAX_HELD = 4096;

const held = [];
try {
  while (held.length < MAX_HELD) held.push(openSync('/dev/null', 'r'));
} catch (error) {
  if (error.code !== 'EMFILE' && error.code !== 'ENFILE') throw error;
}
for (let i = 0; i < spec.free && held.length > 0; i++) closeSync(held.pop());

/** `promise`, or HUNG once `spec.hangMs` have passed. */
const HUNG = Symbol('hung');
function bounded(promise) {
  let timer;
  return Promise.race([promise, new Promise((resolve) => (timer = setTimeout(() => resolve(HUNG), spec.hangMs)))]).finally(() => clearTimeout(timer));
}

const say = (message) => new Promise((resolve) => process.stdout.write(`${JSON.stringify({ t: 'outcome', held: held.length, ...message })}\n`, resolve));
const failure = (stage, error) => ({
  stage,
  answered: false,
  code: outcomeCode(error),
  message: String(error?.message ?? error).slice(0, 300),
});

const service = localSingleton(spec.name, FACTORY, { runtimeDir: spec.runtimeDir, ...spec.options });
let proxy;
try {
  proxy = await bounded(service.proxy());
} catch (error) {
  await say(failure('proxy()', error));
}
if (proxy === HUNG) {
  await say({ stage: 'proxy()', answered: false, hung: true });
} else if (proxy !== undefined) {
  try {
    const value = await bounded(proxy.inc());
    await say(value === HUNG ? { stage: 'call', answered: false, hung: true } : { stage: 'call', answered: typeof value === 'number' });
  } catch (error) {
    await say(failure('call', error));
  }
  await closeRemote(proxy).catch(() => {});
}
for (const fd of held) closeSync(fd);
process.exit(0);
