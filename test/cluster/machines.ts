/**
 * "Machines" for the end-to-end cluster tests: each is a runtime dir of its own (fresh, under
 * the suite's root, so that the leak check finds its daemons through their daemon.log) and a
 * loopback address of its own (127.0.0.1, .2, .3: Linux routes all of 127/8 to lo) that its
 * daemons listen on. Clients are real processes (test/fixtures/worker.mjs and
 * cluster-client.mjs), with the cluster options of their machine.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { onTestFinished } from 'vitest';
import { localSingleton, type LocalSingletonOptions, type LocalSingletonService } from '../../dist/src/index.js';
import { parseRegistryEndpoints } from '../../dist/src/registry/endpoints.js';
import { openEtcdRegistry } from '../../dist/src/registry/etcd.js';
import type { ClusterRecord } from '../../dist/src/registry/record.js';
import { DIST_INDEX } from '../support/clients.js';
import { FIXTURES, freshRoot, isAlive, loggedDaemonPids } from '../support/daemon.js';

/** The cluster secret of every test. */
export const SECRET = 'a cluster secret of the tests';

/** The lease TTL of the end-to-end tests: short, so that failover is quick. */
export const LEASE_TTL_SECONDS = 2;

/** One simulated machine. */
export interface Machine {
  readonly host: string;
  readonly runtimeDir: string;
  /** The options a process on this machine passes. */
  readonly options: LocalSingletonOptions;
}

/** `count` machines on 127.0.0.1, 127.0.0.2, ... with fresh runtime dirs, all naming `registry`. */
export function machines(registry: string, count: number, extra: LocalSingletonOptions = {}): Machine[] {
  return Array.from({ length: count }, (_, i) => {
    const host = `127.0.0.${i + 1}`;
    const runtimeDir = freshRoot();
    return {
      host,
      runtimeDir,
      options: { scope: 'cluster', registry, secret: SECRET, host, leaseTtlSeconds: LEASE_TTL_SECONDS, startTimeoutMs: 20_000, ...extra },
    };
  });
}

/** A service on `machine`, in this test process. */
export function serviceOn<T = Record<string, (...args: never[]) => Promise<unknown>>>(machine: Machine, name: string, factory: string): LocalSingletonService<T> {
  return localSingleton<T>(name, factory, { runtimeDir: machine.runtimeDir, ...machine.options });
}

/** The record etcd holds for `name` now, if any (a registry opened for the read and closed). */
export async function currentRecord(registry: string, name: string): Promise<ClusterRecord | undefined> {
  const opened = await openEtcdRegistry({ endpoints: parseRegistryEndpoints(registry), name, requestTimeoutMs: 1000 });
  try {
    const read = await opened.discover();
    return read.status === 'valid' ? read.record : undefined;
  } finally {
    await opened.close();
  }
}

/** Every pid that logged as a daemon of `name` on any of `all`. */
export function daemonPids(all: readonly Machine[], name: string): number[] {
  return all.flatMap((m) => loggedDaemonPids(join(m.runtimeDir, name, 'daemon.log')));
}

/** How many daemons of `name` published themselves in etcd, on any of `all` (their logs say so). */
export function publishedCount(all: readonly Machine[], name: string): number {
  let count = 0;
  for (const m of all) {
    try {
      count += readFileSync(join(m.runtimeDir, name, 'daemon.log'), 'utf8').match(/published in etcd at /g)?.length ?? 0;
    } catch {
      // no daemon ever started there
    }
  }
  return count;
}

/**
 * When the test ends: every daemon of `name` on `all` is killed (SIGKILL: a graceful stop is
 * the tests' own business; this is the net under them).
 */
export function killDaemonsAtEnd(all: readonly Machine[], name: string): void {
  onTestFinished(() => {
    for (const pid of daemonPids(all, name)) {
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
}

/** A running test/fixtures/cluster-client.mjs. */
export interface ClusterClient {
  readonly machine: Machine;
  readonly pid: number;
  /** Resolves after its first answer. */
  readonly ready: Promise<void>;
  /** Asks it to stop and resolves with what it counted. */
  stop(): Promise<ClientTally>;
  /** SIGKILLs it (its machine "dies"). */
  kill(): void;
}

/** What a cluster client counted: every call it made is in `ok` or in `errors`. */
export interface ClientTally {
  readonly attempts: number;
  /** `[call id, pid of the daemon that answered]`. */
  readonly ok: Array<[string, number]>;
  /** Call ids by error code. */
  readonly errors: Record<string, string[]>;
}

/** Starts a client process on `machine` calling `add(id)` on `factory` (test/fixtures/ledger.mjs). */
export function startClient(machine: Machine, name: string, factory: string): ClusterClient {
  const spec = { dist: DIST_INDEX, runtimeDir: machine.runtimeDir, name, factory, options: machine.options };
  const child = spawn(process.execPath, [join(FIXTURES, 'cluster-client.mjs'), JSON.stringify(spec)], { stdio: ['pipe', 'pipe', 'inherit'] });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const wake of waiters.splice(0)) wake();
  });
  let closed = false;
  // 'close', not 'exit': its output has been read whole by then.
  const exited = new Promise<void>((resolve) =>
    child.once('close', () => {
      closed = true;
      resolve();
      for (const wake of waiters.splice(0)) wake();
    }),
  );
  const line = (test: (l: string) => boolean) =>
    new Promise<string>((resolve, reject) => {
      const look = () => {
        const found = lines.find(test);
        if (found !== undefined) return resolve(found);
        if (closed) return reject(new Error(`client ${child.pid} exited: ${lines.join('\n')}`));
        waiters.push(look);
      };
      look();
    });
  return {
    machine,
    pid: child.pid!,
    ready: line((l) => l === 'ready').then(() => {}),
    async stop() {
      child.stdin!.write('stop\n');
      const tally = await line((l) => l.startsWith('{'));
      await exited;
      return JSON.parse(tally) as ClientTally;
    },
    kill() {
      child.kill('SIGKILL');
    },
  };
}
