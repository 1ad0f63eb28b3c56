// The cold-start floor, spawned by scripts/bench/main.mjs: the shape of a cold start with none
// of the library in it. This process (a "client") spawns a second bare Node process (a
// "daemon") that writes one byte on a pipe; on that byte this one prints a line, the moment
// the bench measures up to. Two Node start-ups in a row are what any design with a separate
// daemon process started by its first client pays at the least.
//
// With the argument `deps`, the second process first imports what the daemon cannot serve a
// call without: its dependencies (xstate, msgpackr's pure-JS entry, p-queue) and Node's
// crypto (the handshake) and net (the socket), and none of the library's own code: the
// least any daemon built on these dependencies pays (the "dependency floor").
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const DEPS_CHILD = fileURLToPath(new URL('./floor-deps.mjs', import.meta.url));
const args = process.argv[2] === 'deps' ? [DEPS_CHILD] : ['-e', "process.stdout.write('x')"];
const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
child.stdout.once('data', () => process.stdout.write('up\n'));
