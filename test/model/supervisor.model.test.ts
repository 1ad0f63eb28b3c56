/**
 * Model-based lifecycle tests of supervised proxies: every path supervisor.paths.ts generates
 * from the supervisor statechart is driven against a proxy of a real daemon, through the
 * public API of dist/.
 *
 * Events are real actions: `connection.lost` SIGKILLs the daemon the proxy is connected to;
 * `call.requested` is a call on the proxy (which only reaches the statechart once the
 * connection is gone); the reconnect ends by itself, with a new daemon, or failing because a
 * daemon of another factory was started under the name meanwhile (staged before the call);
 * the backoff ends when its period has passed; `proxy.disposed` disposes the proxy (in
 * `reconnecting` while a child process holds the spawn lock, so the restart is still going on).
 *
 * States are checked against what can be seen: the transitions the proxy's supervisor reports on
 * `loopback-singleton:supervisor:transition` (the path's, event by event, checked after every
 * step), how the call settles (its result, or RestartLimitError / ERR_PROXY_CLOSED /
 * FactoryMismatchError), which daemons ran and are alive (daemon.log), metadata.json, ping().pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { EventObject } from 'xstate';
import { DaemonConnectionError, FactoryMismatchError, localSingleton, RestartLimitError, type LocalSingletonService, type Remote } from '../../dist/src/index.js';
import type { TransitionRecord } from '../../dist/src/inspect.js';
import { readMetadata } from '../../dist/src/runtime/metadata.js';
import { isProcessAlive } from '../../dist/src/runtime/process.js';
import type { RuntimePaths } from '../../dist/src/types.js';
import { COUNTER } from '../support/clients.js';
import { freshRoot, freshRuntime, startDaemon } from '../support/daemon.js';
import { describePath, type ModelPath } from './coverage.js';
import { BACKOFF, DISPOSED, paths, policyOf, RESTART_FAILED } from './supervisor.paths.js';
import { outcome, until, type Outcome } from '../support/wait.js';

interface Counter {
  echo(value: unknown): unknown;
}
type Proxy = Remote<Counter>;

const REPO_ROOT = join(import.meta.dirname, '..', '..');
const SUPERVISOR = 'loopback-singleton:supervisor:transition';
const CLIENT_STOP = 'loopback-singleton:client:stop';

function errorOf(settled: Outcome | undefined): unknown {
  expect(settled, 'the call settled with an error').toHaveProperty('error');
  return (settled as { error: unknown }).error;
}

/** Every pid that wrote a `[daemon PID]` line to `log`. */
function loggedPids(log: string): number[] {
  try {
    return [...new Set([...readFileSync(log, 'utf8').matchAll(/\[daemon (\d+)\]/g)].map((match) => Number(match[1])))];
  } catch {
    return [];
  }
}

function metadataPid(paths: RuntimePaths): number | undefined {
  const read = readMetadata(paths.metadata);
  return read.status === 'valid' ? read.metadata.pid : undefined;
}

/** A child process holding the spawn lock (as src/runtime/lock.ts takes it) until told to release it. */
async function holdLock(paths: RuntimePaths): Promise<{ release(): Promise<void> }> {
  const script = `
    const lockfile = require('proper-lockfile');
    const [dir, lockPath] = process.argv.slice(1);
    lockfile.lock(require('node:path').join(dir, 'spawn'), { lockfilePath: lockPath, realpath: false, stale: 3000 }).then((release) => {
      process.stdout.write('locked\\n');
      process.stdin.once('data', async () => { await release(); process.exit(0); });
    }).catch((error) => { process.stderr.write(String(error && error.stack)); process.exit(1); });
  `;
  const child: ChildProcess = spawn(process.execPath, ['-e', script, paths.dir, paths.lock], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('locked') && resolve());
    child.once('exit', (code, signal) => reject(new Error(`lock holder exited (${signal ?? code}) before locking: ${stderr}`)));
  });
  expect(lstatSync(paths.lock).isDirectory()).toBe(true);
  return {
    async release() {
      child.stdin!.write('release\n');
      await exited;
    },
  };
}

function title(path: ModelPath, index: number): string {
  const policy = policyOf(path);
  return `#${index} restart ${JSON.stringify(policy)}: ${describePath(path)}`;
}

async function drive(path: ModelPath, index: number): Promise<void> {
  const policy = policyOf(path);
  const name = `supervisor-${index}`;
  const root = freshRoot();
  const runtime = freshRuntime(name, root);
  const { paths: rt } = runtime;
  const svc: LocalSingletonService<Counter> = localSingleton<Counter>(name, COUNTER, { runtimeDir: root, restart: policy, idleTtlMs: 30_000, startTimeoutMs: 15_000 });
  const staged = new Set<number>();
  // Whatever happens, no daemon of this runtime dir outlives the test.
  onTestFinished(async () => {
    for (const pid of new Set([...loggedPids(rt.log), ...staged])) {
      if (!isProcessAlive(pid)) continue;
      process.kill(pid, 'SIGKILL');
      await until(() => !isProcessAlive(pid), `daemon ${pid} to exit`);
    }
  });

  const records: TransitionRecord[] = [];
  const onRecord = (message: unknown) => {
    const record = message as TransitionRecord;
    if (record.name === name && record.type === 'transition') records.push(record);
  };
  let clientStops = 0;
  const onClientStop = (message: unknown) => {
    if ((message as TransitionRecord).name === name) clientStops++;
  };
  subscribe(SUPERVISOR, onRecord);
  subscribe(CLIENT_STOP, onClientStop);
  onTestFinished(() => {
    unsubscribe(SUPERVISOR, onRecord);
    unsubscribe(CLIENT_STOP, onClientStop);
  });

  const expected = path.steps.map((step) => ({ event: step.event.type, to: step.state.value }));
  /** The supervisor has reported the first `count` transitions of the path, and no others. */
  const reached = async (count: number, timeoutMs = 10_000) => {
    await until(() => records.length >= count, `the supervisor to report ${JSON.stringify(expected[count - 1])}`, timeoutMs);
    expect(records.map(({ event, to }) => ({ event, to }))).toEqual(expected.slice(0, count));
  };

  // connected: a working proxy, on the daemon metadata.json names.
  const proxy = (await svc.proxy()) as Proxy;
  let disposed = false;
  onTestFinished(async () => {
    if (!disposed) await proxy[Symbol.asyncDispose]();
  });
  await reached(1);
  expect(await proxy.echo('model')).toBe('model');
  let daemon = (await svc.ping()).pid;
  expect(metadataPid(rt)).toBe(daemon);
  const lost: number[] = [];
  let pending: Promise<Outcome> | undefined;
  let holder: { release(): Promise<void> } | undefined;
  let retryAt: number | undefined;

  for (let i = 1; i < path.steps.length; i++) {
    const { event, state } = path.steps[i]! as { event: EventObject; state: { value: unknown } };
    const next = path.steps[i + 1]?.event;
    switch (event.type) {
      case 'connection.lost': {
        process.kill(daemon, 'SIGKILL');
        lost.push(daemon);
        await reached(i + 1);
        // disconnected: that daemon is gone, its record left behind (SIGKILL cleans nothing up).
        await until(() => !isProcessAlive(daemon), `daemon ${daemon} to exit`);
        expect(metadataPid(rt)).toBe(daemon);
        break;
      }
      case 'call.requested': {
        if (next?.type === RESTART_FAILED.type) {
          // Someone starts a daemon of another factory under the name before the proxy restarts.
          const other = await startDaemon({ name }, runtime);
          staged.add(other.pid);
        }
        if (next?.type === DISPOSED.type && state.value === 'reconnecting') holder = await holdLock(rt);
        const before = loggedPids(rt.log);
        pending = outcome(proxy.echo('model'));
        await reached(i + 1);
        if (state.value === 'backingOff') {
          // Fails fast: no daemon is started.
          const error = errorOf(await pending);
          expect(error).toBeInstanceOf(RestartLimitError);
          expect((error as RestartLimitError).code).toBe('ERR_RESTART_LIMIT');
          const at = (error as RestartLimitError).retryAt;
          expect(typeof at).toBe('number');
          if (retryAt !== undefined) expect(at!).toBeGreaterThan(retryAt);
          retryAt = at;
          expect(loggedPids(rt.log)).toEqual(before);
        } else if (state.value === 'failed') {
          const error = errorOf(await pending);
          expect(error).toBeInstanceOf(DaemonConnectionError);
          expect(error).not.toBeInstanceOf(RestartLimitError);
          expect((error as DaemonConnectionError).code).toBe('ERR_PROXY_CLOSED');
          expect(loggedPids(rt.log)).toEqual(before);
        } else {
          expect(state.value).toBe('reconnecting');
        }
        break;
      }
      case 'xstate.done.actor.reconnect': {
        await reached(i + 1, 20_000);
        // connected again, to a new daemon, the one now published. No call was in flight when
        // the old one was lost, so the call that restarted it is the one told: it fails with
        // ERR_DAEMON_LOST naming the lost daemon, and was not sent to the new object.
        const error = errorOf(await pending);
        expect(error).toBeInstanceOf(DaemonConnectionError);
        expect((error as DaemonConnectionError).code).toBe('ERR_DAEMON_LOST');
        expect((error as Error).message).toContain(`(pid ${lost.at(-1)}) was lost`);
        const info = await svc.ping();
        const { pid } = info;
        expect(info.callsServed).toBe(0);
        expect(lost).not.toContain(pid);
        expect(isProcessAlive(pid)).toBe(true);
        expect(metadataPid(rt)).toBe(pid);
        // The calls after it go to the new object.
        expect(await proxy.echo('again')).toBe('again');
        daemon = pid;
        break;
      }
      case 'xstate.error.actor.reconnect': {
        await reached(i + 1, 20_000);
        // disconnected: the restart met the other factory's daemon and left it alone.
        const error = errorOf(await pending);
        expect(error).toBeInstanceOf(FactoryMismatchError);
        expect((error as FactoryMismatchError).code).toBe('ERR_FACTORY_MISMATCH');
        const [other] = staged;
        expect(isProcessAlive(other!)).toBe(true);
        expect(metadataPid(rt)).toBe(other);
        expect(loggedPids(rt.log).filter((pid) => !staged.has(pid))).toEqual(lost);
        break;
      }
      case BACKOFF: {
        // The period passes: disconnected again, nothing restarted by itself.
        expect(retryAt).toBeDefined();
        const before = loggedPids(rt.log);
        await reached(i + 1, Math.max(0, retryAt! - Date.now()) + 10_000);
        expect(loggedPids(rt.log)).toEqual(before);
        break;
      }
      case 'proxy.disposed': {
        const stopsBefore = clientStops;
        await proxy[Symbol.asyncDispose]();
        disposed = true;
        await reached(i + 1);
        if (holder) {
          // Disposed mid-restart: the waiting call is told so at once.
          const error = errorOf(await pending);
          expect(error).toBeInstanceOf(DaemonConnectionError);
          expect((error as DaemonConnectionError).code).toBe('ERR_PROXY_CLOSED');
          // The restart still runs to its end once the lock is free; its connection is dropped.
          await holder.release();
          await until(() => clientStops > stopsBefore, 'the abandoned restart to finish', 20_000);
        }
        const after = await outcome(proxy.echo('late'));
        expect((errorOf(after) as DaemonConnectionError).code).toBe('ERR_PROXY_CLOSED');
        break;
      }
      default:
        throw new Error(`no action for ${event.type}`);
    }
  }
  // Nothing happened that the path does not say.
  expect(records.map(({ event, to }) => ({ event, to }))).toEqual(expected);
}

describe('supervisor statechart, driven against real processes', () => {
  paths.forEach((path, index) => {
    it(title(path, index), () => drive(path, index), 40_000);
  });
});
