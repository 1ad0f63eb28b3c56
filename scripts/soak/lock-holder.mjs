// A soak chaos helper: holds the singleton's spawn lock from another process, exactly as the
// library takes it (src/runtime/lock.ts: proper-lockfile on `<dir>/spawn`, lockfilePath =
// paths.lock, realpath false, stale 3000 ms, mtime refreshed while held). Usage:
//   node lock-holder.mjs <runtime dir of the singleton> <paths.lock> <holdMs>
// Prints JSON lines on stdout: {"t":"held"} once it holds the lock (or {"t":"busy"} when it
// could not get it within 2 s, then exits), {"t":"released"} after holdMs. holdMs 0 = hold
// until killed (the parent SIGKILLs it to leave a stale lock behind).
import { join } from 'node:path';
import lockfile from 'proper-lockfile';

const [dir, lockPath, holdRaw] = process.argv.slice(2);
const holdMs = Number(holdRaw);
if (!dir || !lockPath || !Number.isSafeInteger(holdMs) || holdMs < 0) {
  process.stderr.write('usage: node lock-holder.mjs <dir> <lock> <holdMs>\n');
  process.exit(2);
}
const say = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const ACQUIRE_WITHIN_MS = 2000;
const deadline = Date.now() + ACQUIRE_WITHIN_MS;
let release;
for (;;) {
  try {
    release = await lockfile.lock(join(dir, 'spawn'), {
      lockfilePath: lockPath,
      realpath: false,
      stale: 3000,
      retries: 0,
      onCompromised: (error) => say({ t: 'compromised', message: error.message }),
    });
    break;
  } catch (error) {
    if (error.code !== 'ELOCKED') throw error;
    if (Date.now() > deadline) {
      say({ t: 'busy' });
      process.exit(0);
    }
    await sleep(10);
  }
}
say({ t: 'held' });
if (holdMs === 0) {
  // Until killed. proper-lockfile's refresh timer is unref'd: keep the process alive ourselves.
  setInterval(() => {}, 1 << 30);
} else {
  await sleep(holdMs);
  try {
    await release();
  } catch {
    // compromised meanwhile: nothing of ours left to remove
  }
  say({ t: 'released' });
}
