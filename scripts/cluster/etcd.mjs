// A 3-member etcd cluster for scripts/cluster/scale.mjs: the same members, flags and raft
// timings as the tests' cluster (test/support/etcd-cluster.ts), started from plain JS because
// the scripts run on the built package with Node 20, which cannot load that TypeScript file.
// Members on free 127.0.0.1 ports, data dirs under one temp root (in /dev/shm when there is one).
import { spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** The etcd binary on PATH, or undefined. */
export function findEtcd() {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      accessSync(join(dir, 'etcd'), constants.X_OK);
      return join(dir, 'etcd');
    } catch {
      // not here
    }
  }
  return undefined;
}

async function freePort() {
  const server = createServer();
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** GET `path` from the member at `port` as text, or undefined. */
export async function memberGet(port, path, timeoutMs = 2000) {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
    return await response.text();
  } catch {
    return undefined;
  }
}

const GOARCH = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', ia32: '386', riscv64: 'riscv64' };

/**
 * Starts the cluster and resolves once a member says healthy: `{ members: [{ name, clientPort,
 * pid }], hosts, stop() }`. `stop()` SIGKILLs every member and removes the data dirs.
 */
export async function startCluster(etcd, { timeoutMs = 20_000 } = {}) {
  const root = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'lbs-scale-'));
  const members = [];
  for (let i = 0; i < 3; i++) {
    const dataDir = join(root, `m${i}`);
    mkdirSync(dataDir, { mode: 0o700 });
    members.push({ name: `m${i}`, clientPort: await freePort(), peerPort: await freePort(), dataDir, child: undefined, output: '' });
  }
  const initial = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
  const env = { ...process.env, ETCD_UNSUPPORTED_ARCH: GOARCH[process.arch] ?? process.arch };
  for (const m of members) {
    // The tests' flags (test/support/etcd-cluster.ts), the quota included.
    const args = [
      `--name=${m.name}`,
      '--data-dir',
      m.dataDir,
      `--listen-client-urls=http://127.0.0.1:${m.clientPort}`,
      `--advertise-client-urls=http://127.0.0.1:${m.clientPort}`,
      `--listen-peer-urls=http://127.0.0.1:${m.peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${m.peerPort}`,
      `--initial-cluster=${initial}`,
      '--initial-cluster-state=new',
      `--initial-cluster-token=${root.slice(root.lastIndexOf('-') + 1)}`,
      '--heartbeat-interval=50',
      '--election-timeout=500',
      '--logger=zap',
      '--log-outputs=stderr',
      '--log-level=error',
      '--snapshot-count=1000',
      '--quota-backend-bytes=67108864',
    ];
    m.child = spawn(etcd, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
    m.child.stderr.setEncoding('utf8');
    m.child.stderr.on('data', (chunk) => {
      m.output = (m.output + chunk).slice(-4000);
    });
  }
  const cluster = {
    members: members.map((m) => ({ name: m.name, clientPort: m.clientPort, pid: m.child.pid })),
    hosts: members.map((m) => `http://127.0.0.1:${m.clientPort}`),
    text: `etcd://${members.map((m) => `127.0.0.1:${m.clientPort}`).join(',')}`,
    async stop() {
      await Promise.all(
        members.map(
          (m) =>
            new Promise((resolve) => {
              if (m.child.exitCode !== null || m.child.signalCode !== null) return resolve();
              m.child.once('exit', resolve);
              m.child.kill('SIGKILL');
            }),
        ),
      );
      rmSync(root, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answers = await Promise.all(members.map((m) => memberGet(m.clientPort, '/health', 1000)));
    if (answers.some((text) => text?.includes('"health":"true"'))) return cluster;
    if (Date.now() > deadline) {
      await cluster.stop();
      throw new Error(`etcd did not become healthy within ${timeoutMs} ms:\n${members.map((m) => `${m.name}: ${m.output.trim().slice(-600)}`).join('\n')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
