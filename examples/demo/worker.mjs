// One demo worker process. Usage:
//   node worker.mjs --calls M [--runtime-dir DIR] [--barrier]
// Opens a proxy on the singleton `demo-counter` (starting its daemon if no one has yet), makes
// M sequential increments (alternating inc() and the racy incAfterTick()), and prints one JSON
// line: { pid, daemonPid, values, firstCallAt, doneAt }. With --barrier it first prints
// {"ready":true} and waits until its stdin is closed, so a parent can release all workers at
// the same instant. It exits on its own: the proxy is disposed and no handle is left open.
import { parseArgs } from 'node:util';
import { closeRemote, localSingleton } from 'loopback-singleton';

const { values: flags } = parseArgs({
  options: {
    calls: { type: 'string', default: '500' },
    'runtime-dir': { type: 'string' },
    barrier: { type: 'boolean', default: false },
  },
});
const calls = Number(flags.calls);
if (!Number.isSafeInteger(calls) || calls < 1) throw new TypeError(`--calls must be a positive integer, got "${flags.calls}"`);

const svc = localSingleton(
  'demo-counter',
  { module: new URL('./counter.mjs', import.meta.url), export: 'Counter' },
  {
    runtimeDir: flags['runtime-dir'],
    // Long enough that the parent can still read the count after the last worker disconnects;
    // the parent shuts the daemon down explicitly anyway.
    idleTtlMs: 30_000,
  },
);

const now = () => performance.timeOrigin + performance.now();

if (flags.barrier) {
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.once('end', resolve));
}

const proxy = await svc.proxy();
const values = [];
let firstCallAt;
try {
  firstCallAt = now();
  for (let i = 0; i < calls; i++) values.push(await (i % 2 === 0 ? proxy.inc() : proxy.incAfterTick()));
} finally {
  await closeRemote(proxy);
}
const doneAt = now();
const daemonPid = (await svc.ping()).pid;
process.stdout.write(`${JSON.stringify({ pid: process.pid, daemonPid, values, firstCallAt, doneAt })}\n`);
