// A soak chaos helper: holds the singleton's spawn lock from another process, exactly as the
// library takes it: its own acquireSpawnLock (src/runtime/lock.ts, from the build), so the
// lock carries this process's holder record. Usage:
//   node lock-holder.mjs <runtime dir of the singleton> <paths.lock> <holdMs>
// Prints JSON lines on stdout: {"t":"held"} once it holds the lock (or {"t":"busy"} when it
// could not get it within 2 s, then exits), {"t":"released"} after holdMs. holdMs 0 = hold
// until killed (the parent SIGKILLs it to leave a stale lock behind: its holder is dead).
// The chaos may run it on a stepped wall clock (clock-step): nobody may take the lock over
// from it while it lives.
// The library's own lock (not exported by the package); the scripts run after a build.
import { acquireSpawnLock } from '../../dist/src/runtime/lock.js';

const [dir, lockPath, holdRaw] = process.argv.slice(2);
const holdMs = Number(holdRaw);
if (!dir || !lockPath || !Number.isSafeInteger(holdMs) || holdMs < 0) {
  process.stderr.write('usage: node lock-holder.mjs <dir> <lock> <holdMs>\n');
  process.exit(2);
}
const say = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const ACQUIRE_WITHIN_MS = 2000;
const held = await acquireSpawnLock({ dir, lock: lockPath }, () => false, AbortSignal.timeout(ACQUIRE_WITHIN_MS)).catch((error) => {
  if (error?.name === 'TimeoutError') return undefined;
  throw error;
});
if (held === undefined) {
  say({ t: 'busy' });
  process.exit(0);
}
say({ t: 'held' });
if (holdMs === 0) {
  // Until killed. The lock's refresh timer is unref'd: keep the process alive ourselves.
  setInterval(() => {}, 1 << 30);
} else {
  await sleep(holdMs);
  if (held.compromised) say({ t: 'compromised', message: held.compromised.message });
  await held.release();
  say({ t: 'released' });
}
