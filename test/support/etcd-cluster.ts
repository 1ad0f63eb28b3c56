/**
 * A real 3-member etcd cluster for the cluster tests: Debian's `etcd-server` (3.4), three
 * processes on free 127.0.0.1 ports, each with its own data dir under one temp root (in
 * /dev/shm when there is one: etcd fsyncs its WAL on every write, and the disk is shared with
 * benchmarks). Fast raft timings (heartbeat 50 ms, election 500 ms) make it healthy in about
 * a second and let it elect a new etcd leader quickly when a member dies.
 *
 * A test can kill a member and start it again (same data dir: it rejoins), or stop a quorum.
 * `stop()` kills every member and removes the temp root; a member is also SIGKILLed when
 * the test process exits without calling it, so the suite leaves no etcd behind.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePorts } from './ports.js';
import { processesMentioning } from './proc.js';
import { sleep } from './wait.js';

/** The etcd binary on PATH, or undefined when it is not installed (the cluster tests skip then). */
export const ETCD_BINARY: string | undefined = findEtcd();

/** Why the cluster tests skip here, or undefined when etcd is installed. */
export const ETCD_MISSING: string | undefined =
  ETCD_BINARY === undefined ? 'etcd is not installed (apt-get install etcd-server; .ci/run installs it): the cluster tests are skipped' : undefined;

/** The first executable `etcd` on PATH: looked up in the file system, not through a shell a busy machine might fail to spawn. */
function findEtcd(): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, 'etcd');
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Raft timings: small, so that the cluster starts and fails over fast; not so small that a busy 2-core machine flaps. */
const HEARTBEAT_MS = 50;
const ELECTION_MS = 500;

/** One member: its ports, data dir and process (undefined while it is down). */
interface Member {
  readonly name: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  process: ChildProcess | undefined;
  /** Its last lines of output, for the error of a cluster that did not become healthy. */
  output: string;
}

/** A running test cluster. */
export interface EtcdCluster {
  /** Every member's client URL (`http://127.0.0.1:<port>`), members that are down included. */
  readonly endpoints: readonly string[];
  /** The endpoint list as the registry option takes it: `etcd://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`. */
  readonly registry: string;
  /** The temp root of the members' data dirs. */
  readonly root: string;
  /** SIGKILLs member `index` (0-2) and waits until its process has exited. */
  kill(index: number): Promise<void>;
  /** Starts member `index` again on its data dir and waits until the cluster answers healthy through it. */
  restart(index: number): Promise<void>;
  /** Kills two members: the cluster has no quorum until one of them is restarted. Returns their indexes. */
  stopQuorum(): Promise<number[]>;
  /** Pids of the members that run now. */
  pids(): number[];
  /** Kills every member and removes the data dirs. Idempotent. */
  stop(): Promise<void>;
}

/** Whether the member at `port` says the cluster is healthy (it has an etcd leader), within `timeoutMs`. */
async function isHealthy(port: number, timeoutMs = 1000): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    const body = (await response.json()) as { health?: unknown };
    return body.health === 'true';
  } catch {
    return false;
  }
}

const started = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of started) child.kill('SIGKILL');
});

/** Go's name for this CPU, for ETCD_UNSUPPORTED_ARCH (etcd 3.4 refuses to run elsewhere than amd64 without it). */
const GOARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', ia32: '386', riscv64: 'riscv64' };

function launch(member: Member, initialCluster: string, token: string): void {
  const args = [
    `--name=${member.name}`,
    // A separate argument: the leak checks find a member by an argument that starts with its path.
    '--data-dir',
    member.dataDir,
    `--listen-client-urls=http://127.0.0.1:${member.clientPort}`,
    `--advertise-client-urls=http://127.0.0.1:${member.clientPort}`,
    `--listen-peer-urls=http://127.0.0.1:${member.peerPort}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${member.peerPort}`,
    `--initial-cluster=${initialCluster}`,
    '--initial-cluster-state=new',
    `--initial-cluster-token=${token}`,
    `--heartbeat-interval=${HEARTBEAT_MS}`,
    `--election-timeout=${ELECTION_MS}`,
    '--logger=zap',
    '--log-outputs=stderr',
    '--log-level=error',
    // Less memory and disk: the tests write a few hundred keys.
    '--snapshot-count=1000',
    '--quota-backend-bytes=67108864',
  ];
  const env = { ...process.env, ETCD_UNSUPPORTED_ARCH: GOARCH[process.arch] ?? process.arch };
  const child = spawn(ETCD_BINARY!, args, { stdio: ['ignore', 'ignore', 'pipe'], env });
  member.process = child;
  member.output = '';
  started.add(child);
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    member.output = (member.output + chunk).slice(-4000);
  });
  child.once('exit', () => {
    started.delete(child);
    if (member.process === child) member.process = undefined;
  });
}

async function killMember(member: Member): Promise<void> {
  const child = member.process;
  if (child === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  else return;
  await exited;
}

/** Waits until some running member says healthy; fails after `timeoutMs` with the members' output. */
async function awaitHealthy(members: Member[], timeoutMs: number, through?: Member): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const asked = through ? [through] : members.filter((m) => m.process !== undefined);
    const answers = await Promise.all(asked.map((m) => isHealthy(m.clientPort)));
    if (answers.some(Boolean)) return;
    if (Date.now() > deadline) {
      const output = members.map((m) => `${m.name} (${m.process ? 'running' : 'down'}): ${m.output.trim().slice(-800) || '(no output)'}`).join('\n');
      throw new Error(`The test etcd cluster did not become healthy within ${timeoutMs} ms:\n${output}`);
    }
    await sleep(50);
  }
}

/**
 * Starts a 3-member cluster and resolves once it is healthy (an etcd leader elected).
 * @throws when etcd is not installed (check {@link ETCD_MISSING} first), or the cluster is not healthy within `timeoutMs`.
 */
export async function startEtcdCluster(timeoutMs = 20_000): Promise<EtcdCluster> {
  if (ETCD_BINARY === undefined) throw new Error(ETCD_MISSING);
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  const root = mkdtempSync(join(base, 'lbs-etcd-'));
  const token = root.slice(root.lastIndexOf('-') + 1);
  const members: Member[] = [];
  const ports = await freePorts(6);
  for (let i = 0; i < 3; i++) {
    const dataDir = join(root, `m${i}`);
    mkdirSync(dataDir, { mode: 0o700 });
    members.push({ name: `m${i}`, clientPort: ports[2 * i]!, peerPort: ports[2 * i + 1]!, dataDir, process: undefined, output: '' });
  }
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
  let stopped = false;
  const cluster: EtcdCluster = {
    endpoints: members.map((m) => `http://127.0.0.1:${m.clientPort}`),
    registry: `etcd://${members.map((m) => `127.0.0.1:${m.clientPort}`).join(',')}`,
    root,
    async kill(index) {
      await killMember(members[index]!);
    },
    async restart(index) {
      const member = members[index]!;
      if (member.process === undefined) launch(member, initialCluster, token);
      await awaitHealthy(members, timeoutMs, member);
    },
    async stopQuorum() {
      const running = members.flatMap((m, i) => (m.process ? [i] : []));
      const victims = running.slice(0, running.length - 1).slice(0, 2);
      await Promise.all(victims.map((i) => killMember(members[i]!)));
      return victims;
    },
    pids() {
      return members.flatMap((m) => (m.process?.pid === undefined ? [] : [m.process.pid]));
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(members.map(killMember));
      // Any member this handle lost track of (it should not happen) goes too.
      for (const pid of processesMentioning(root)) process.kill(pid, 'SIGKILL');
      rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    for (const member of members) launch(member, initialCluster, token);
    await awaitHealthy(members, timeoutMs);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}
