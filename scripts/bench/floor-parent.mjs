// The cold-start floor, spawned by scripts/bench/main.mjs: the shape of a cold start with none
// of the library in it. This process (a "client") spawns a second bare Node process (a
// "daemon") that writes one byte on a pipe; on that byte this one prints a line, the moment
// the bench measures up to. Two Node start-ups in a row are what any design with a separate
// daemon process started by its first client pays at the least.
import { spawn } from 'node:child_process';

const child = spawn(process.execPath, ['-e', "process.stdout.write('x')"], { stdio: ['ignore', 'pipe', 'inherit'] });
child.stdout.once('data', () => process.stdout.write('up\n'));
