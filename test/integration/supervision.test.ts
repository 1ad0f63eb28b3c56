/**
 * Supervised proxies with real processes: the daemon is SIGKILLed under three calling
 * processes, the restart limit and its period, `restart: false`, let-it-crash for the hosted
 * object's own background work, and the supervision events on node:diagnostics_channel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { closeRemote, DaemonConnectionError, RemoteError, RestartLimitError, type LocalSingletonService } from '../../dist/src/index.js';
import { readMetadata } from '../../dist/src/runtime/metadata.js';
import { FIXTURES, isAlive, waitForExit } from '../support/daemon.js';
import { COUNTER, DIST_INDEX, service } from '../support/clients.js';
import { sleep, until } from '../support/wait.js';

interface Counter {
  inc(): number;
  get(): number;
}

interface Crashy {
  pid(): number;
  armCrash(ms: number): string;
  armThrow(ms: number): string;
  fail(): never;
}

const CHAOS_WORKER = join(FIXTURES, 'chaos-worker.mjs');
const CRASHY = `${pathToFileURL(join(FIXTURES, 'crashy.mjs')).href}:Crashy`;
const CLIENT_EVENTS = ['daemon-lost', 'restart', 'reconnected', 'restart-limit', 'restart-failed'] as const;
type ClientEventName = (typeof CLIENT_EVENTS)[number];

interface EventMessage {
  readonly name: string;
  readonly pid: number;
  readonly restarts: number;
  readonly retryAt: number | undefined;
}

/** The pid in the service's metadata.json, if it holds a valid record. */
function metadataPid(svc: LocalSingletonService<unknown>): number | undefined {
  const read = readMetadata(svc.paths.metadata);
  return read.status === 'valid' ? read.metadata.pid : undefined;
}

/** Every pid that ever wrote a `[daemon PID]` line to `log`. */
function loggedDaemonPids(log: string): number[] {
  if (!existsSync(log)) return [];
  return [...new Set([...readFileSync(log, 'utf8').matchAll(/\[daemon (\d+)\]/g)].map((match) => Number(match[1])))];
}

/** The daemons of that runtime dir that are alive right now (zombies count as dead). */
function liveDaemonPids(log: string): number[] {
  return loggedDaemonPids(log).filter(isAlive);
}

/** The supervision events this process publishes for singleton `name`, recorded as they come. */
class ClientEvents {
  readonly #name: string;
  readonly #recorded: Array<{ event: ClientEventName; message: EventMessage }> = [];
  readonly #listeners: Array<() => void> = [];

  constructor(name: string) {
    this.#name = name;
    const handlers = CLIENT_EVENTS.map((event) => {
      const handler = (message: unknown) => {
        if ((message as EventMessage).name !== this.#name) return;
        this.#recorded.push({ event, message: message as EventMessage });
        for (const listener of [...this.#listeners]) listener();
      };
      subscribe(`loopback-singleton:client:${event}`, handler);
      return [event, handler] as const;
    });
    onTestFinished(() => {
      for (const [event, handler] of handlers) unsubscribe(`loopback-singleton:client:${event}`, handler);
    });
  }

  of(event: ClientEventName): EventMessage[] {
    return this.#recorded.filter((r) => r.event === event).map((r) => r.message);
  }

  /** Resolves with the first `event` (already recorded or still to come) that `matches`. */
  next(event: ClientEventName, matches: (message: EventMessage) => boolean, timeoutMs = 10_000): Promise<EventMessage> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.of(event).find(matches);
        if (found === undefined) return false;
        clearTimeout(timer);
        this.#listeners.splice(this.#listeners.indexOf(listener), 1);
        resolve(found);
        return true;
      };
      const listener = () => void check();
      const timer = setTimeout(() => {
        this.#listeners.splice(this.#listeners.indexOf(listener), 1);
        reject(new Error(`no "${event}" event for "${this.#name}" within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#listeners.push(listener);
      check();
    });
  }
}

/**
 * SIGKILLs daemon `pid` and waits until the proxy has noticed (its `daemon-lost` event) and
 * the process is gone: a call made afterwards is a call after the loss, not one in flight.
 */
async function killAndWaitForLoss(pid: number, events: ClientEvents): Promise<void> {
  const lost = events.next('daemon-lost', (m) => m.pid === pid);
  process.kill(pid, 'SIGKILL');
  await lost;
  await waitForExit(pid);
}

/** What a call settled with, without throwing. */
function settle<T>(promise: Promise<T>): Promise<unknown> {
  return promise.catch((error: unknown) => error);
}

// ---------------------------------------------------------------------------------------
// Chaos worker processes (test/fixtures/chaos-worker.mjs), driven over their IPC channel.

type Outcome = { ok: unknown } | { code: string; name?: string; message?: string } | 'HANG';

interface WorkerMessage {
  readonly t: string;
  readonly [key: string]: unknown;
}

class ChaosWorker {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  #stderr = '';
  readonly #inbox: WorkerMessage[] = [];
  #wake: () => void = () => {};

  constructor(spec: object) {
    this.child = spawn(process.execPath, [CHAOS_WORKER, JSON.stringify(spec)], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    this.child.stderr!.on('data', (chunk: Buffer) => (this.#stderr += chunk.toString()));
    this.child.on('message', (message: WorkerMessage) => {
      this.#inbox.push(message);
      this.#wake();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    this.exited.then(() => this.#wake());
    onTestFinished(() => {
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    });
  }

  send(message: WorkerMessage): void {
    this.child.send(message);
  }

  /** The worker's next message of type `t`; fails if it exits or takes longer than `timeoutMs`. */
  async receive(t: string, timeoutMs = 30_000): Promise<WorkerMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = this.#inbox.findIndex((m) => m.t === t);
      if (index >= 0) return this.#inbox.splice(index, 1)[0]!;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`chaos worker ${this.child.pid} exited before sending "${t}":\n${this.#stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`chaos worker ${this.child.pid} sent no "${t}" within ${timeoutMs} ms:\n${this.#stderr}`);
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        setTimeout(resolve, 100);
      });
    }
  }

  get stderr(): string {
    return this.#stderr;
  }
}

describe('supervised proxies', () => {
  it('chaos: three processes keep calling while the daemon is SIGKILLed 4 times; every call settles, one daemon at a time', async () => {
    const svc = service<Counter>({}, COUNTER, 'chaos');
    const runtimeDir = dirname(svc.paths.dir);
    // Should the test fail midway: no daemon of this runtime dir outlives it.
    onTestFinished(async () => {
      for (const pid of liveDaemonPids(svc.paths.log)) {
        process.kill(pid, 'SIGKILL');
        await waitForExit(pid);
      }
    });
    const spec = {
      dist: DIST_INDEX,
      runtimeDir,
      name: 'chaos',
      factory: COUNTER,
      // Generous budgets: restarts storm a 2-core machine; the limit is not what is tested here.
      options: { restart: { maxRestarts: 100, periodMs: 1000 }, startTimeoutMs: 15_000 },
      method: 'inc',
      count: 150,
      pauseMs: 15,
      durationMs: 40_000,
      hangMs: 10_000,
    };

    // Sample the live daemons of this runtime dir from the very first spawn to the end.
    let samples = 0;
    let maxLive = 0;
    const overlaps: number[][] = [];
    const sampler = setInterval(() => {
      const live = liveDaemonPids(svc.paths.log);
      samples++;
      maxLive = Math.max(maxLive, live.length);
      if (live.length > 1) overlaps.push(live);
    }, 25);
    onTestFinished(() => clearInterval(sampler));

    const workers = Array.from({ length: 3 }, () => new ChaosWorker(spec));
    const ready = await Promise.all(workers.map((w) => w.receive('ready')));
    const firstPid = ready[0]!.pid as number;
    for (const message of ready) expect(message.pid).toBe(firstPid);
    expect(metadataPid(svc)).toBe(firstPid);

    for (const worker of workers) worker.send({ t: 'go' });
    const killed: number[] = [];
    for (let round = 0; round < 4; round++) {
      await sleep(300);
      // The current daemon: the one metadata.json names, once the workers have restarted it.
      let target = 0;
      await until(
        () => {
          const pid = metadataPid(svc);
          if (pid === undefined || killed.includes(pid) || !isAlive(pid)) return false;
          target = pid;
          return true;
        },
        `a restarted daemon to kill (round ${round + 1})`,
        20_000,
      );
      process.kill(target, 'SIGKILL');
      killed.push(target);
    }
    expect(killed[0]).toBe(firstPid);
    for (const worker of workers) worker.send({ t: 'stop' });

    const calls = await Promise.all(workers.map((w) => w.receive('calls', 60_000)));
    for (const worker of workers) worker.send({ t: 'final' });
    const finals = await Promise.all(workers.map((w) => w.receive('final', 30_000)));
    // Every worker disposes its proxy and exits on its own.
    for (const worker of workers) expect(await worker.exited, worker.stderr).toBe(0);
    clearInterval(sampler);

    // Every call settled: a result, or the loss of its daemon; none hung. (Soft: the checks
    // below still run, and the message lists every offending call.)
    for (const { outcomes } of calls as unknown as Array<{ outcomes: Outcome[] }>) {
      expect(outcomes.length).toBeGreaterThanOrEqual(spec.count);
      expect.soft(outcomes.filter((o) => o === 'HANG')).toEqual([]);
      expect(outcomes.filter((o) => o !== 'HANG' && 'ok' in o && typeof o.ok !== 'number')).toEqual([]);
      const unexpected = outcomes.filter((o) => o !== 'HANG' && !('ok' in o) && o.code !== 'ERR_DAEMON_LOST' && o.code !== 'ERR_DAEMON_DRAINING');
      expect.soft(unexpected, 'calls that settled with neither a result nor ERR_DAEMON_LOST/ERR_DAEMON_DRAINING').toEqual([]);
    }

    // Afterwards the SAME proxies work, all against one new daemon.
    const finalPid = finals[0]!.pingPid as number;
    for (const final of finals) {
      expect(final.outcome).toMatchObject({ ok: expect.any(Number) });
      expect(final.pingPid).toBe(finalPid);
      // The proxy's own connection is to that daemon: the last one it reconnected to.
      expect((final.reconnectedPids as number[]).at(-1)).toBe(finalPid);
      // It noticed the loss of the daemon it first used.
      expect(final.lostPids as number[]).toContain(firstPid);
    }
    expect(finalPid).not.toBe(firstPid);
    expect(killed).not.toContain(finalPid);
    expect(isAlive(finalPid)).toBe(true);
    expect(metadataPid(svc)).toBe(finalPid);

    // Never more than one live daemon for this runtime dir.
    expect(samples).toBeGreaterThan(0);
    expect(overlaps).toEqual([]);
    expect(maxLive).toBeLessThanOrEqual(1);
    for (const pid of killed) expect(isAlive(pid)).toBe(false);

    await svc.shutdown();
    expect(isAlive(finalPid)).toBe(false);
    expect(existsSync(svc.paths.metadata)).toBe(false);
  }, 120_000);

  it('more than maxRestarts within periodMs: RestartLimitError, fail fast, then the same proxy works again', async () => {
    // A period long enough for three cold starts on a loaded 2-core machine (the limit is
    // counted within it), short enough to wait out at the end.
    const svc = service<Counter>({ restart: { maxRestarts: 2, periodMs: 15_000 } }, COUNTER, 'limited');
    const events = new ClientEvents('limited');
    const counter = await svc.proxy();
    expect(await counter.inc()).toBe(1);
    const pids = [(await svc.ping()).pid];

    // Two losses within the period: each next call restarts the daemon, and, as no call was in
    // flight to learn of the loss, fails with ERR_DAEMON_LOST unsent; the call after it goes on.
    for (let restart = 1; restart <= 2; restart++) {
      await killAndWaitForLoss(pids.at(-1)!, events);
      expect(await settle(counter.inc())).toMatchObject({ code: 'ERR_DAEMON_LOST' });
      expect(await counter.inc()).toBe(1); // a fresh daemon, a fresh object
      const { pid } = await svc.ping();
      expect(pids).not.toContain(pid);
      pids.push(pid);
    }

    // The third loss within the period: the limit.
    await killAndWaitForLoss(pids.at(-1)!, events);
    const limited = await settle(counter.inc());
    expect(limited).toBeInstanceOf(RestartLimitError);
    expect(limited).toBeInstanceOf(DaemonConnectionError);
    expect((limited as RestartLimitError).code).toBe('ERR_RESTART_LIMIT');
    const { retryAt } = limited as RestartLimitError;
    expect(typeof retryAt).toBe('number');
    expect(retryAt!).toBeGreaterThan(Date.now());

    // Further calls fail fast too, and start no daemon.
    for (let i = 0; i < 3; i++) {
      const again = await settle(counter.inc());
      expect(again).toBeInstanceOf(RestartLimitError);
      expect((again as RestartLimitError).code).toBe('ERR_RESTART_LIMIT');
      expect((again as RestartLimitError).retryAt).toBe(retryAt);
    }
    const stale = metadataPid(svc);
    if (stale !== undefined) expect(stale).toBe(pids.at(-1));
    expect(loggedDaemonPids(svc.paths.log).sort()).toEqual([...pids].sort());
    expect(liveDaemonPids(svc.paths.log)).toEqual([]);

    // Once the period has passed, the same proxy restarts the daemon again.
    await sleep(Math.max(0, retryAt! - Date.now()));
    const deadline = retryAt! + 10_000;
    let outcome = await settle(counter.inc());
    while (!(typeof outcome === 'number')) {
      expect(outcome).toBeInstanceOf(RestartLimitError);
      if (Date.now() > deadline) throw new Error('the proxy still fails fast 10 s after retryAt');
      await sleep(50);
      outcome = await settle(counter.inc());
    }
    // The RestartLimitErrors told of the loss: the restart after the period sends the call.
    expect(outcome).toBe(1);
    const { pid } = await svc.ping();
    expect(pids).not.toContain(pid);
    expect(await counter.inc()).toBe(2);
    expect(events.of('restart-limit').length).toBeGreaterThanOrEqual(1);
    await closeRemote(counter);
  }, 90_000);

  it('restart: false gives a proxy that stays failed; a new proxy from the service works', async () => {
    const svc = service<Counter>({ restart: false }, COUNTER, 'unsupervised');
    const events = new ClientEvents('unsupervised');
    const counter = await svc.proxy();
    expect(await counter.inc()).toBe(1);
    const { pid } = await svc.ping();
    await killAndWaitForLoss(pid, events);

    for (let i = 0; i < 3; i++) {
      const error = await settle(counter.inc());
      expect(error).toBeInstanceOf(DaemonConnectionError);
      expect(error).not.toBeInstanceOf(RestartLimitError);
      expect((error as DaemonConnectionError).code).toBe('ERR_PROXY_CLOSED');
    }
    // Those calls started no daemon.
    const stale = metadataPid(svc);
    if (stale !== undefined) expect(stale).toBe(pid);
    expect(loggedDaemonPids(svc.paths.log)).toEqual([pid]);
    expect(events.of('restart')).toEqual([]);

    const fresh = await svc.proxy();
    expect(await fresh.inc()).toBe(1);
    const info = await svc.ping();
    expect(info.pid).not.toBe(pid);
    // The old proxy stays failed even with a daemon running again.
    expect(((await settle(counter.inc())) as DaemonConnectionError).code).toBe('ERR_PROXY_CLOSED');
    expect(await fresh.inc()).toBe(2);
    await closeRemote(fresh);
    await closeRemote(counter);
  });

  it('let it crash: an unhandled rejection or uncaught throw in background work is logged, unpublishes, exits 1; the same proxy gets a new daemon', async () => {
    const svc = service<Crashy>({}, CRASHY, 'crashy');
    const events = new ClientEvents('crashy');
    const crashy = await svc.proxy();
    let pid = await crashy.pid();
    const crashes = [
      { arm: () => crashy.armCrash(20), message: 'crashy: the background job rejected' },
      { arm: () => crashy.armThrow(20), message: 'crashy: the background timer threw' },
    ];
    for (const { arm, message } of crashes) {
      const lost = events.next('daemon-lost', (m) => m.pid === pid);
      expect(await arm()).toBe('armed');
      await lost;
      await waitForExit(pid);

      const log = readFileSync(svc.paths.log, 'utf8');
      expect(log, message).toMatch(new RegExp(`\\[daemon ${pid}\\] exit 1\\b`));
      const at = log.indexOf(message);
      expect(at, `"${message}" in daemon.log`).toBeGreaterThanOrEqual(0);
      // The stack follows the message, up to the next log line: it names the fixture.
      const block = log.slice(at, log.indexOf('[daemon', at));
      expect(block).toMatch(/\n\s+at .*crashy\.mjs:\d+/);
      expect(existsSync(svc.paths.metadata)).toBe(false);

      // No call was in flight: the first call after the crash is told, unsent.
      expect(await settle(crashy.pid())).toMatchObject({ code: 'ERR_DAEMON_LOST' });
      const next = await crashy.pid();
      expect(next).not.toBe(pid);
      expect(isAlive(next)).toBe(true);
      expect(metadataPid(svc)).toBe(next);
      pid = next;
    }
    await closeRemote(crashy);
  });

  it('a throw inside a called method stays a RemoteError and the daemon keeps its pid', async () => {
    const svc = service<Crashy>({}, CRASHY, 'crashy');
    const crashy = await svc.proxy();
    const pid = await crashy.pid();
    for (let i = 0; i < 2; i++) {
      const error = await settle(crashy.fail());
      expect(error).toBeInstanceOf(RemoteError);
      expect(error).toMatchObject({ code: 'ERR_REMOTE', remoteName: 'TypeError', remoteMessage: 'crashy: the method refused' });
    }
    expect(await crashy.pid()).toBe(pid);
    expect(isAlive(pid)).toBe(true);
    expect(readFileSync(svc.paths.log, 'utf8')).not.toMatch(/exit 1\b/);
    await closeRemote(crashy);
  });

  it('diagnostics: a SIGKILL and a call publish daemon-lost, restart and reconnected; the limit publishes restart-limit', async () => {
    const seen: Array<{ event: ClientEventName; message: EventMessage }> = [];
    const channels = ['daemon-lost', 'restart', 'reconnected', 'restart-limit'] as const;
    const handlers = channels.map((event) => {
      const handler = (message: unknown) => {
        if ((message as EventMessage).name === 'diag') seen.push({ event, message: message as EventMessage });
      };
      subscribe(`loopback-singleton:client:${event}`, handler);
      return [event, handler] as const;
    });
    try {
      const svc = service<Counter>({ restart: { maxRestarts: 1, periodMs: 60_000 } }, COUNTER, 'diag');
      const counter = await svc.proxy();
      expect(await counter.inc()).toBe(1);
      const first = (await svc.ping()).pid;

      process.kill(first, 'SIGKILL');
      await until(() => seen.some((s) => s.event === 'daemon-lost'), 'the daemon-lost event');
      await waitForExit(first);
      expect(await settle(counter.inc())).toMatchObject({ code: 'ERR_DAEMON_LOST' });
      expect(await counter.inc()).toBe(1);
      const second = (await svc.ping()).pid;
      expect(second).not.toBe(first);

      expect(seen.map((s) => s.event)).toEqual(['daemon-lost', 'restart', 'reconnected']);
      const [lost, restart, reconnected] = seen.map((s) => s.message);
      expect(lost).toMatchObject({ name: 'diag', pid: first });
      expect(restart).toMatchObject({ name: 'diag', pid: first, restarts: 1 });
      expect(reconnected).toMatchObject({ name: 'diag', pid: second });

      // A second loss within the period is over the limit of 1.
      process.kill(second, 'SIGKILL');
      await until(() => seen.filter((s) => s.event === 'daemon-lost').length === 2, 'the second daemon-lost event');
      await waitForExit(second);
      const limited = await settle(counter.inc());
      expect(limited).toBeInstanceOf(RestartLimitError);
      expect(seen.map((s) => s.event)).toEqual(['daemon-lost', 'restart', 'reconnected', 'daemon-lost', 'restart-limit']);
      expect(seen[3]!.message).toMatchObject({ name: 'diag', pid: second });
      expect(seen[4]!.message).toMatchObject({ name: 'diag', pid: second, retryAt: (limited as RestartLimitError).retryAt });
      await closeRemote(counter);
    } finally {
      for (const [event, handler] of handlers) unsubscribe(`loopback-singleton:client:${event}`, handler);
    }
  });
});
