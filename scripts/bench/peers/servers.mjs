// The peers' servers, started for one --peers run and stopped after it: redis-server (TCP on a
// free port and a Unix socket in a temp dir; skipped when absent), the node:http server
// (./http-server.mjs) and Python's multiprocessing.managers (./py_server.py, skipped when
// python3 is absent). Each is `{ peers, pid, stop() }`; `peers` are the specs ./clients.mjs
// opens. The library's daemons are started by ./main.mjs through the public API.
import { fork, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HTTP_SERVER = fileURLToPath(new URL('./http-server.mjs', import.meta.url));
export const PY_SERVER = fileURLToPath(new URL('./py_server.py', import.meta.url));
export const PY_CLIENT = fileURLToPath(new URL('./py_client.py', import.meta.url));
const REDIS_SERVER = process.env.REDIS_SERVER ?? '/usr/bin/redis-server';

/** The first executable of `candidates` on PATH (or as given), or undefined. */
function which(candidates) {
  for (const candidate of candidates) {
    if (candidate.includes('/') ? existsSync(candidate) : spawnSync('sh', ['-c', `command -v ${candidate}`]).status === 0) return candidate;
  }
  return undefined;
}

/** A TCP port nothing listens on now (the OS's pick, released again). */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once `probe()` resolves, retrying every 10 ms until `ms` have passed. */
async function until(probe, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await probe();
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`${what}: not ready within ${ms} ms (${error.message})`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

/** redis-server on 127.0.0.1 and a Unix socket, no persistence; undefined when absent. */
export async function startRedis(track) {
  const binary = which([REDIS_SERVER, 'redis-server']);
  if (!binary) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'loopback-singleton-bench-redis-'));
  const path = join(dir, 'redis.sock');
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--unixsocket', path, '--unixsocketperm', '700'];
  args.push('--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--loglevel', 'warning');
  const child = track(spawn(binary, args, { stdio: ['ignore', 'ignore', 'inherit'] }));
  const { open } = await import('./clients.mjs');
  const probe = await until(() => open({ kind: 'node-redis', host: '127.0.0.1', port }), 10_000, 'redis-server');
  await probe.close();
  await until(() => (existsSync(path) ? Promise.resolve() : Promise.reject(new Error('no socket yet'))), 10_000, 'the Redis socket');
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8' })
    .stdout.trim()
    .split(' ')
    .find((word) => word.startsWith('v='));
  return {
    version: version?.slice(2),
    pid: child.pid,
    peers: {
      ioredisTcp: { kind: 'ioredis', host: '127.0.0.1', port },
      ioredisUnix: { kind: 'ioredis', path },
      nodeRedisTcp: { kind: 'node-redis', host: '127.0.0.1', port },
      nodeRedisUnix: { kind: 'node-redis', path },
    },
    stop: () => {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The raw Node echo of `npm run bench` (../echo-server.mjs), on TCP and on a Unix socket: a
 * reference for what any Node daemon can reach here, not a peer (./main.mjs leaves it out of
 * the leads).
 */
export async function startNodeEcho(track) {
  const { startEchoServer } = await import('../baseline.mjs');
  const dir = mkdtempSync(join(tmpdir(), 'loopback-singleton-bench-echo-'));
  const tcp = startEchoServer('tcp');
  const unix = startEchoServer('ipc', join(dir, 'echo.sock'));
  track(tcp.child);
  track(unix.child);
  const [tcpAddress, unixAddress] = await Promise.all([tcp.address, unix.address]);
  return {
    pid: tcp.child.pid,
    peers: { nodeEchoTcp: { kind: 'node-echo', address: tcpAddress }, nodeEchoUnix: { kind: 'node-echo', address: unixAddress } },
    stop: () => {
      tcp.child.kill();
      unix.child.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The node:http server in a child process. */
export async function startHttp(track) {
  const child = track(fork(HTTP_SERVER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  const port = await new Promise((resolve, reject) => {
    child.once('message', (message) => resolve(message.port));
    child.once('exit', (code, signal) => reject(new Error(`the HTTP server exited (${signal ?? code}) before it listened`)));
  });
  return { pid: child.pid, peers: { undici: { kind: 'undici', origin: `http://127.0.0.1:${port}` } }, stop: () => child.kill() };
}

/** Python's multiprocessing.managers server; undefined when python3 is absent. */
export async function startPython(track) {
  const python = which(['python3']);
  if (!python) return undefined;
  const authkey = randomBytes(16).toString('hex');
  const child = track(spawn(python, [PY_SERVER, authkey], { stdio: ['pipe', 'pipe', 'inherit'] }));
  const { port } = await new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk;
      if (out.includes('\n')) resolve(JSON.parse(out));
    });
    child.once('exit', (code, signal) => reject(new Error(`the Python managers server exited (${signal ?? code}) before it listened`)));
  });
  const version = spawnSync(python, ['--version'], { encoding: 'utf8' }).stdout.trim();
  return { python, version, pid: child.pid, peers: { python: { kind: 'python', python, port, authkey } }, stop: () => child.stdin.end() };
}
