// One "side" of the --peers run per peer and transport: the figures' drivers behind one
// interface, so that ./main.mjs interleaves them without knowing who is who. Every driver
// returns what it measured (seconds for a batch of calls, ms for a connect); a side that cannot
// make a figure returns null for it (Python's managers answer one call at a time per
// connection: no 64 in flight).
import { fork, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { open } from './clients.mjs';
import { PY_CLIENT } from './servers.mjs';

const CLIENT_PROCESS = fileURLToPath(new URL('./client-process.mjs', import.meta.url));
const now = () => performance.now();

/** The resident memory of process `pid`, MiB (Linux), or null. */
export function rssMiB(pid) {
  try {
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))[1]) / 1024;
  } catch {
    return null;
  }
}

/** Milliseconds from spawn() of `command args` until it prints a line; then awaits its exit. */
export function untilFirstLine(command, args, track, withDeadline, deadlineMs) {
  const start = now();
  const child = track(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  const first = new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk;
      if (out.includes('\n')) resolve(now() - start);
    });
    exited.then((exit) => reject(new Error(`${command} ${args[0]} exited (${exit}) before its first line:\n${stderr.trim()}`)));
  });
  return withDeadline(
    first.then(async (ms) => {
      const exit = await exited;
      if (exit !== 0) throw new Error(`${command} ${args[0]} exited with ${exit}: ${stderr.trim()}`);
      return ms;
    }),
    deadlineMs,
    `${command} ${args[0]}`,
  );
}

/** A side whose client lives in this process (the library, Redis clients, undici). */
export async function nodeSide(peer, { track, withDeadline, deadlineMs, depth }) {
  const client = await open(peer);
  const batch = async (fn) => {
    const start = now();
    await fn();
    return (now() - start) / 1000;
  };
  return {
    seq: (calls) =>
      batch(async () => {
        for (let i = 0; i < calls; i++) await client.inc();
      }),
    pipelined: (calls) =>
      batch(async () => {
        let issued = 0;
        const lane = async () => {
          while (issued < calls) {
            issued++;
            await client.inc();
          }
        };
        await Promise.all(Array.from({ length: depth }, lane));
      }),
    echo: (size, calls) => {
      // A client that declares a bound (the raw echo's reader joins split frames chunk by chunk).
      if (client.echoUpTo !== undefined && size > client.echoUpTo) return null;
      const value = 'x'.repeat(size);
      return batch(async () => {
        for (let i = 0; i < calls; i++) if ((await client.echo(value)).length !== size) throw new Error(`${peer.kind}: echo of ${size} came back changed`);
      });
    },
    connect: async () => {
      const start = now();
      const fresh = await open(peer);
      await fresh.inc();
      const ms = now() - start;
      await fresh.close();
      return ms;
    },
    newProcess: () => untilFirstLine(process.execPath, [CLIENT_PROCESS, 'once', JSON.stringify(peer)], track, withDeadline, deadlineMs),
    /** `n` client processes, each ready to make sequential calls; `round(calls)` -> seconds. */
    processes: async (n) => {
      const workers = Array.from({ length: n }, () => track(fork(CLIENT_PROCESS, ['serve', JSON.stringify(peer)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })));
      const next = (worker, t) =>
        withDeadline(
          new Promise((resolve) =>
            worker.on('message', function on(m) {
              if (m.t === t) {
                worker.off('message', on);
                resolve(m);
              }
            }),
          ),
          deadlineMs,
          `a ${peer.kind} client process, '${t}'`,
        );
      await Promise.all(workers.map((worker) => next(worker, 'ready')));
      return {
        round: async (calls) => {
          const start = now();
          for (const worker of workers) worker.send({ t: 'go', calls });
          await Promise.all(workers.map((worker) => next(worker, 'done')));
          return (now() - start) / 1000;
        },
        stop: () => {
          for (const worker of workers) worker.send({ t: 'stop' });
        },
      };
    },
    close: () => client.close(),
  };
}

/** A Python managers client process, driven by JSON lines (./py_client.py). */
async function pythonClient(peer, track, withDeadline, deadlineMs) {
  const child = track(spawn(peer.python, [PY_CLIENT, String(peer.port), peer.authkey, 'serve'], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const waiting = [];
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    out += chunk;
    for (let newline = out.indexOf('\n'); newline >= 0; newline = out.indexOf('\n')) {
      const line = out.slice(0, newline);
      out = out.slice(newline + 1);
      waiting.shift()?.resolve(JSON.parse(line));
    }
  });
  child.once('exit', (code) => {
    for (const { reject } of waiting.splice(0)) reject(new Error(`a Python client exited (${code})`));
  });
  const answer = () => withDeadline(new Promise((resolve, reject) => waiting.push({ resolve, reject })), deadlineMs, 'a Python client');
  const ask = (command) => {
    const answered = answer();
    child.stdin.write(`${JSON.stringify(command)}\n`);
    return answered.then((reply) => reply.s);
  };
  await answer();
  return { ask, stop: () => child.stdin.end() };
}

/** The Python managers side: every figure made by Python clients, timed by Python. */
export async function pythonSide(peer, { track, withDeadline, deadlineMs }) {
  const client = await pythonClient(peer, track, withDeadline, deadlineMs);
  return {
    seq: (calls) => client.ask({ op: 'seq', calls }),
    pipelined: async () => null,
    echo: (size, calls) => client.ask({ op: 'echo', size, calls }),
    connect: async () => (await client.ask({ op: 'connect' })) * 1000,
    newProcess: () => untilFirstLine(peer.python, [PY_CLIENT, String(peer.port), peer.authkey, 'once'], track, withDeadline, deadlineMs),
    processes: async (n) => {
      const clients = await Promise.all(Array.from({ length: n }, () => pythonClient(peer, track, withDeadline, deadlineMs)));
      return {
        round: async (calls) => {
          const start = now();
          await Promise.all(clients.map((c) => c.ask({ op: 'seq', calls })));
          return (now() - start) / 1000;
        },
        stop: () => {
          for (const c of clients) c.stop();
        },
      };
    },
    close: () => client.stop(),
  };
}
