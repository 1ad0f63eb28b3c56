/**
 * Model-based lifecycle tests of the client: every path client.paths.ts generates from the
 * client statechart is driven against real processes and files, through the public API
 * (`proxy()` of a service built from dist/, exactly as users get it).
 *
 * Each path's events are caused for real: the world its first event names is staged in a
 * fresh runtime dir before `proxy()` runs (no metadata; truncated metadata; metadata.json as a
 * directory; a live daemon of this client's factory, or of another factory, or of another
 * protocol version; metadata naming a dead pid; a foreign listener, answering or silent; a
 * daemon SIGSTOPped), and what the path does later is staged around it (a child process
 * holding the spawn lock, which publishes a daemon meanwhile, releases it, or never does; a
 * stale regular file at the lock path; daemon.log as a directory; a factory that throws or
 * never finishes; spawned daemons SIGKILLed before they are ready or as the handshake begins;
 * the daemon being replaced SIGKILLed). Actions that must land in one particular state are
 * taken when the client reports entering it on `loopback-singleton:client:transition`.
 *
 * Each state is checked against what can be seen: the transitions the real client reports
 * (they must be the path's, event by event), how `proxy()` settles (a working proxy, or the
 * error class and code the final event stands for), metadata.json (valid, whose pid, absent),
 * the spawn lock (free, or still the holder's), which daemons ran and which are alive
 * (daemon.log's `[daemon PID]` lines: exactly as many as the path spawns), `ping().pid`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import {
  ConnectionFailedError,
  FactoryError,
  FactoryMismatchError,
  HandshakeError,
  localSingleton,
  type LocalSingletonService,
  type Remote,
} from '../../dist/src/index.js';
import { canonicalArgs, computeFactoryId, hashArgs, hashModuleCode, parseFactory } from '../../dist/src/client/factory-ref.js';
import type { TransitionRecord } from '../../dist/src/inspect.js';
import { readMetadata } from '../../dist/src/runtime/metadata.js';
import { isProcessAlive } from '../../dist/src/runtime/process.js';
import type { RuntimePaths } from '../../dist/src/types.js';
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '../../dist/src/version.js';
import { COUNTER } from '../support/clients.js';
import { daemonConfig, FIXTURES, freshRoot, freshRuntime, SERVICES_URL, spawnDaemon, startDaemon, type DaemonOverrides } from '../support/daemon.js';
import { deadPid, foreignListener, freePort, staleMetadata, type ForeignListener } from '../support/stale.js';
import type { ModelPath } from './coverage.js';
import { FAILURES, inputOf, paths, PUBLISHED, READS, TIMEOUT, type World } from './client.paths.js';
import { outcome, sleep, until } from '../support/wait.js';

interface Counter {
  echo(value: unknown): unknown;
  never(): Promise<never>;
}

const REPO_ROOT = join(import.meta.dirname, '..', '..');
/**
 * A factory that never returns and holds the daemon's loop: the daemon's own boot deadline
 * (set a little before the spawner's) cannot report first, so the client's start budget is
 * what ends `awaitingReady`.
 */
const HANGS = `${pathToFileURL(join(FIXTURES, 'hangs.mjs')).href}:spins`;
const THROWS = `${SERVICES_URL}:Throws`;
const CHANNEL = 'loopback-singleton:client:transition';
/** The start budget where the path runs into the start timeout, and where it must not. */
const SHORT_START_MS = 1500;
const LONG_START_MS = 20_000;
/** The drain deadline of a staged draining daemon: the client waits this long for it to exit. */
const DRAIN_MS = 3000;

// ---------------------------------------------------------------------------------------------
// The path, read as a scenario
// ---------------------------------------------------------------------------------------------

type Step = ModelPath['steps'][number];
type ModelEvent = EventObject & { output?: unknown; error?: { staging?: string } };

/** A state value as the transition records carry it: `discovering`, `{ locked: 'spawning' }`. */
const show = (value: unknown): string =>
  typeof value === 'string'
    ? value
    : Object.entries(value as object)
        .map(([k, v]) => `${k}.${show(v)}`)
        .join();

/** What the path asks of the world, read off its events. */
interface Scenario {
  readonly world: World;
  readonly replace: boolean;
  readonly events: readonly ModelEvent[];
  /** The state each event was taken in. */
  readonly from: readonly AnyMachineSnapshot[];
  /** The lock: free, held by a child that publishes a daemon meanwhile, held for good, or a stale file. */
  readonly lock: 'free' | 'holderPublishes' | 'holderKeeps' | 'staleFile';
  readonly factory: string;
  readonly startTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly logIsDirectory: boolean;
  readonly killBeforeReady: boolean;
  readonly killAtHandshake: boolean;
  readonly stopAtHandshake: boolean;
  readonly killReplaced: boolean;
  /** Daemons the client itself spawns along the path. */
  readonly spawns: number;
  readonly final: 'connected' | 'failed';
}

function scenarioOf(path: ModelPath): Scenario {
  const steps = path.steps.slice(1);
  const events = steps.map((step) => step.event as ModelEvent);
  const from = path.steps.slice(0, -1).map((step) => step.state);
  const first = events[0]!;
  const world = (Object.keys(READS) as World[]).find((w) => JSON.stringify(READS[w]) === JSON.stringify(first.output));
  if (world === undefined) throw new Error(`no world reads ${JSON.stringify(first.output)}`);
  const has = (type: string, staging?: string) => events.some((e) => e.type === type && (staging === undefined || e.error?.staging === staging));
  const timeoutIn = events.map((e, i) => (e.type === TIMEOUT ? from[i]!.value : undefined)).find((v) => v !== undefined);
  const lockOutcome = (events.find((e) => e.type === 'xstate.done.actor.acquireLock')?.output as { outcome?: string } | undefined)?.outcome;
  let lock: Scenario['lock'] = 'free';
  if (lockOutcome === 'published') lock = 'holderPublishes';
  else if (has('xstate.error.actor.acquireLock')) lock = 'staleFile';
  else if (timeoutIn === 'locking') lock = 'holderKeeps';
  const stopAtHandshake = has('xstate.error.actor.connectSpawned', FAILURES.stoppedAtHandshake.staging);
  const killBeforeReady = has('xstate.error.actor.awaitReady', FAILURES.diedBeforeReady.staging);
  const hangs = killBeforeReady || JSON.stringify(timeoutIn) === JSON.stringify({ locked: 'awaitingReady' });
  return {
    world,
    replace: inputOf(path).replaceOnMismatch,
    events,
    from,
    lock,
    factory: hangs ? HANGS : has('xstate.error.actor.awaitReady', FAILURES.factoryThrows.staging) ? THROWS : COUNTER,
    startTimeoutMs: timeoutIn === undefined ? LONG_START_MS : SHORT_START_MS,
    // SIGSTOPped daemons must cost little; a silent listener must outlast the start budget.
    connectTimeoutMs: world === 'stopped' || world === 'stoppedMismatched' || world.startsWith('mended') || stopAtHandshake ? 300 : world === 'silent' ? 60_000 : 5000,
    logIsDirectory: has('xstate.error.actor.spawnDaemon', FAILURES.logIsDirectory.staging),
    killBeforeReady,
    killAtHandshake: has('xstate.error.actor.connectSpawned', FAILURES.diedAtHandshake.staging),
    stopAtHandshake,
    killReplaced: has('xstate.error.actor.replaceDaemon', FAILURES.replacedDaemonKilled.staging),
    spawns: events.filter((e) => e.type === 'xstate.done.actor.spawnDaemon').length,
    final: path.state.value as 'connected' | 'failed',
  };
}

function title(path: ModelPath, index: number): string {
  const scenario = scenarioOf(path);
  const states = path.steps.map((step: Step) => show(step.state.value));
  const last = scenario.events.at(-1)!;
  const why =
    last.type === TIMEOUT
      ? 'start timeout'
      : (last.error?.staging ?? (last.type === 'xstate.done.actor.acquireLock' ? String((last.output as { outcome?: string }).outcome) : ''));
  const extra = [
    scenario.lock !== 'free' ? `lock: ${scenario.lock}` : '',
    scenario.killAtHandshake ? 'spawned daemons die at the handshake' : '',
    scenario.stopAtHandshake ? 'the spawned daemon is stopped at the handshake' : '',
    why,
  ].filter(Boolean);
  return `#${index} ${scenario.world}${scenario.replace ? " (onMismatch: 'replace')" : ''}: ${states.join(' → ')}${extra.length ? ` [${extra.join('; ')}]` : ''}`;
}

/** The transitions the real client must report: the path's, one per step. */
function expectedTransitions(path: ModelPath): Array<{ event: string; to: unknown }> {
  return path.steps.map((step: Step) => ({ event: step.event.type, to: step.state.value }));
}

// ---------------------------------------------------------------------------------------------
// Staging
// ---------------------------------------------------------------------------------------------

/** Every pid that wrote a `[daemon PID]` line to `log` (none if it cannot be read). */
function loggedPids(log: string): number[] {
  try {
    return [...new Set([...readFileSync(log, 'utf8').matchAll(/\[daemon (\d+)\]/g)].map((match) => Number(match[1])))];
  } catch {
    return [];
  }
}

/**
 * A child process that takes the spawn lock exactly as src/runtime/lock.ts does and holds it.
 * On `publish <config>` it starts a daemon the way a starter under the lock does (dist's
 * launchDaemon) and answers `published <pid>`; on `release` it releases the lock and exits.
 */
class LockHolder {
  readonly child: ChildProcess;
  #out = '';

  private constructor(child: ChildProcess) {
    this.child = child;
    child.stdout!.on('data', (chunk: Buffer) => (this.#out += chunk.toString()));
  }

  static async start(paths: RuntimePaths): Promise<LockHolder> {
    const script = `
      const lockfile = require('proper-lockfile');
      const { join } = require('node:path');
      const [dir, lockPath, spawnUrl, codecUrl] = process.argv.slice(1);
      lockfile.lock(join(dir, 'spawn'), { lockfilePath: lockPath, realpath: false, stale: 3000 }).then((release) => {
        process.stdout.write('locked\\n');
        let input = '';
        process.stdin.on('data', async (chunk) => {
          input += chunk;
          for (let at = input.indexOf('\\n'); at >= 0; at = input.indexOf('\\n')) {
            const line = input.slice(0, at);
            input = input.slice(at + 1);
            if (line === 'release') {
              await release();
              process.stdout.write('released\\n');
              process.exit(0);
            }
            if (line.startsWith('publish ')) {
              const config = JSON.parse(line.slice(8));
              const { launchDaemon } = await import(spawnUrl);
              const { encodeValue } = await import(codecUrl);
              const launch = launchDaemon({ ...config, args: encodeValue(config.args) });
              const timer = setTimeout(() => launch.abort(new Error('the daemon was not ready within 15000 ms; it was killed')), 15000);
              const { pid } = await launch.ready.finally(() => clearTimeout(timer));
              process.stdout.write('published ' + pid + '\\n');
            }
          }
        });
      }).catch((error) => { process.stderr.write(String(error && error.stack)); process.exit(1); });
    `;
    const dist = (file: string) => pathToFileURL(join(REPO_ROOT, 'dist', 'src', file)).href;
    const child = spawn(process.execPath, ['-e', script, paths.dir, paths.lock, dist('client/spawn.js'), dist('wire/codec.js')], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    onTestFinished(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const holder = new LockHolder(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', () => holder.#out.includes('locked\n') && resolve());
      child.once('exit', (code, signal) => reject(new Error(`lock holder exited (${signal ?? code}) before locking: ${stderr}`)));
    });
    expect(lstatSync(paths.lock).isDirectory()).toBe(true);
    return holder;
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts a daemon with `overrides` while holding the lock; resolves with its pid. */
  async publish(paths: RuntimePaths, overrides: DaemonOverrides): Promise<number> {
    const config = { ...daemonConfig(paths, overrides), args: overrides.args ?? [] };
    this.child.stdin!.write(`publish ${JSON.stringify(config)}\n`);
    let pid = 0;
    await until(
      () => {
        const match = /published (\d+)/.exec(this.#out);
        if (match) pid = Number(match[1]);
        return pid > 0 || !this.alive;
      },
      'the lock holder to publish a daemon',
      20_000,
    );
    expect(pid, 'the lock holder published a daemon').toBeGreaterThan(0);
    return pid;
  }

  async release(): Promise<void> {
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.stdin!.write('release\n');
    await exited;
    expect(this.#out).toContain('released');
  }
}

/** A copy of the built package whose daemon speaks protocol `version` (test/integration/versions.test.ts). */
function packageSpeaking(version: number): string {
  const copy = mkdtempSync(join(inject('suiteRoot'), 'pkg-'));
  cpSync(join(REPO_ROOT, 'dist'), join(copy, 'dist'), { recursive: true });
  cpSync(join(REPO_ROOT, 'package.json'), join(copy, 'package.json'));
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(copy, 'node_modules'));
  const versionFile = join(copy, 'dist', 'src', 'version.js');
  writeFileSync(versionFile, readFileSync(versionFile, 'utf8').replace(/PROTOCOL_VERSION = \d+/, `PROTOCOL_VERSION = ${version}`));
  onTestFinished(() => rmSync(copy, { recursive: true, force: true }));
  return copy;
}

/** Daemon-config overrides for a daemon running exactly what `factory` (with no args) asks for. */
function ourDaemon(name: string, factory: string): DaemonOverrides {
  const parsed = parseFactory(factory);
  const identity = { module: parsed.module, export: parsed.export, argsHash: hashArgs(canonicalArgs([])), codeHash: hashModuleCode(parsed.module) };
  return { name, factory: identity, factoryId: computeFactoryId(identity, PACKAGE_VERSION), args: [] };
}

/** Everything one path stages, and what it can see. */
class ClientWorld {
  readonly name: string;
  readonly root = freshRoot();
  readonly runtime: ReturnType<typeof freshRuntime>;
  readonly paths: RuntimePaths;
  readonly svc: LocalSingletonService<Counter>;
  /** Daemons the test started (not the client): the world's own. */
  readonly staged = new Set<number>();
  /** The daemon of the world that the client should end up using or meet, if any. */
  daemon: number | undefined;
  holder: LockHolder | undefined;
  foreign: ForeignListener | undefined;
  /** A daemon this test SIGSTOPped, until it continues it. */
  stopped: number | undefined;
  /** The `mended` world's valid record, written back while the client holds the lock. */
  mendWith: string | undefined;
  /** Daemons this test SIGKILLed on purpose. */
  readonly killed = new Set<number>();
  /** Failures of actions taken while the client ran. */
  readonly problems: unknown[] = [];
  readonly #pending: Array<Promise<unknown>> = [];

  constructor(
    index: number,
    readonly scenario: Scenario,
  ) {
    this.name = `client-${index}`;
    this.runtime = freshRuntime(this.name, this.root);
    this.paths = this.runtime.paths;
    this.svc = localSingleton<Counter>(this.name, scenario.factory, {
      runtimeDir: this.root,
      startTimeoutMs: scenario.startTimeoutMs,
      connectTimeoutMs: scenario.connectTimeoutMs,
      onMismatch: scenario.replace ? 'replace' : 'error',
      idleTtlMs: 30_000,
    });
    // Whatever happens, no daemon of this runtime dir outlives the test.
    onTestFinished(async () => {
      const pids = new Set([...loggedPids(this.paths.log), ...this.staged]);
      for (const pid of pids) {
        if (!isProcessAlive(pid)) continue;
        process.kill(pid, 'SIGKILL');
        await until(() => !isProcessAlive(pid), `daemon ${pid} to exit`);
      }
    });
  }

  /** Daemons the client spawned: those in daemon.log the test did not start. */
  clientDaemons(): number[] {
    return loggedPids(this.paths.log).filter((pid) => !this.staged.has(pid));
  }

  /** Runs `action` in the background; a failure is reported by the test. */
  background(action: () => Promise<unknown>): void {
    this.#pending.push(action().catch((error: unknown) => this.problems.push(error)));
  }

  async settled(): Promise<void> {
    await Promise.all(this.#pending);
  }

  kill(pid: number): void {
    this.killed.add(pid);
    process.kill(pid, 'SIGKILL');
  }

  /** SIGSTOPs `pid`; it is continued by {@link resume}, or when the test ends. */
  stop(pid: number): void {
    process.kill(pid, 'SIGSTOP');
    this.stopped = pid;
    onTestFinished(() => {
      if (isProcessAlive(pid)) process.kill(pid, 'SIGCONT');
    });
  }

  resume(): void {
    if (this.stopped !== undefined) process.kill(this.stopped, 'SIGCONT');
    this.stopped = undefined;
  }

  /** Stages what the path finds when it starts. */
  async arrange(): Promise<void> {
    const { scenario, paths } = this;
    const stage = async (overrides: DaemonOverrides) => {
      const started = await startDaemon(overrides, this.runtime);
      this.staged.add(started.pid);
      this.daemon = started.pid;
      return started.pid;
    };
    const mismatched: DaemonOverrides = { name: this.name }; // factoryId 'test-factory'
    switch (scenario.world) {
      case 'absent':
        break;
      case 'truncated': {
        const json = JSON.stringify(staleMetadata(424242, 1));
        writeFileSync(paths.metadata, json.slice(0, Math.floor(json.length / 2)), { mode: 0o600 });
        break;
      }
      case 'directory':
        mkdirSync(paths.metadata);
        break;
      case 'live':
        await stage(ourDaemon(this.name, scenario.factory));
        break;
      case 'dead':
        writeFileSync(paths.metadata, JSON.stringify(staleMetadata(deadPid(), await freePort())), { mode: 0o600 });
        break;
      case 'foreign':
        // This process's pid, with a start time that is not this process's: the pid was reused.
        this.foreign = await foreignListener('challenge');
        writeFileSync(paths.metadata, JSON.stringify({ ...staleMetadata(process.pid, this.foreign.port), startTime: 'model:another-process' }), { mode: 0o600 });
        break;
      case 'silent':
        this.foreign = await foreignListener('silent');
        writeFileSync(paths.metadata, JSON.stringify(staleMetadata(process.pid, this.foreign.port)), { mode: 0o600 });
        break;
      case 'mismatched':
        await stage(mismatched);
        break;
      case 'otherProtocol': {
        const other = packageSpeaking(PROTOCOL_VERSION + 1);
        const { launchDaemon } = (await import(pathToFileURL(join(other, 'dist', 'src', 'client', 'spawn.js')).href)) as typeof import('../../dist/src/client/spawn.js');
        const { pid } = await spawnDaemon(daemonConfig(paths, { name: this.name, factoryId: 'whatever' }), 15_000, launchDaemon);
        this.staged.add(pid);
        this.daemon = pid;
        break;
      }
      case 'stopped':
      case 'stoppedMismatched':
        this.stop(await stage(scenario.world === 'stopped' ? ourDaemon(this.name, scenario.factory) : mismatched));
        break;
      case 'draining':
      case 'drainingDamaged': {
        // Draining, held by a call that never settles, until its drain deadline ends it.
        const pid = await stage({ ...ourDaemon(this.name, scenario.factory), drainTimeoutMs: DRAIN_MS });
        const holder = localSingleton<Counter>(this.name, scenario.factory, { runtimeDir: this.root, idleTtlMs: 30_000 });
        const proxy = await holder.proxy();
        const held = proxy.never().catch((error: unknown) => error);
        onTestFinished(async () => {
          await proxy[Symbol.asyncDispose]();
          await held;
        });
        for (let running = 0; running !== 1; ) {
          await sleep(20);
          running = (await holder.ping()).running;
        }
        process.kill(pid, 'SIGTERM');
        await until(() => {
          const read = readMetadata(paths.metadata);
          return read.status === 'valid' && read.metadata.draining === true;
        }, 'the daemon to mark its record draining');
        if (scenario.world === 'drainingDamaged') {
          const text = readFileSync(paths.metadata, 'utf8');
          writeFileSync(paths.metadata, text.slice(0, Math.floor(text.length / 2)), { mode: 0o600 });
        }
        break;
      }
      case 'mended':
      case 'mendedContinued':
      case 'mendedMismatched': {
        // Stopped, so that it cannot mend its own record before the client has read it damaged.
        this.stop(await stage(scenario.world === 'mendedMismatched' ? mismatched : ourDaemon(this.name, scenario.factory)));
        this.mendWith = readFileSync(paths.metadata, 'utf8');
        writeFileSync(paths.metadata, this.mendWith.slice(0, Math.floor(this.mendWith.length / 2)), { mode: 0o600 });
        break;
      }
    }
    if (scenario.lock === 'staleFile') {
      writeFileSync(paths.lock, 'not a lock directory');
      const past = (Date.now() - 60_000) / 1000;
      utimesSync(paths.lock, past, past);
    } else if (scenario.lock !== 'free') {
      this.holder = await LockHolder.start(paths);
    }
    if (scenario.logIsDirectory) mkdirSync(paths.log);
  }

  /**
   * What the world does as the client enters `to`. Runs synchronously inside the client's own
   * transition (the invoked effect has just started), so a SIGKILL here lands before the
   * effect can get an answer.
   */
  react(to: unknown): void {
    const { scenario, paths } = this;
    const at = (value: unknown) => JSON.stringify(to) === JSON.stringify(value);
    if (at('locking') && this.holder) {
      expect(existsSync(paths.lock), 'the holder has the lock while the client waits').toBe(true);
      if (scenario.lock === 'holderPublishes') {
        this.background(async () => {
          const pid = await this.holder!.publish(paths, ourDaemon(this.name, scenario.factory));
          this.staged.add(pid);
          this.daemon = pid;
        });
      }
    }
    // The live daemon that did not answer is left alone, and answers again.
    if (at('waiting')) {
      expect(this.stopped, 'a daemon stopped by the test').toBeDefined();
      this.resume();
    }
    if (at({ locked: 'rechecking' }) && this.mendWith !== undefined) {
      writeFileSync(paths.metadata, this.mendWith, { mode: 0o600 });
      if (scenario.world !== 'mended') this.resume();
    }
    if (at({ locked: 'replacing' }) && scenario.killReplaced) this.kill(this.daemon!);
    if (at({ locked: 'connecting' }) && (scenario.killAtHandshake || scenario.stopAtHandshake)) {
      const read = readMetadata(paths.metadata);
      if (read.status !== 'valid') throw new Error(`a spawned daemon reported ready without valid metadata (${read.status})`);
      if (scenario.killAtHandshake) this.kill(read.metadata.pid);
      else this.stop(read.metadata.pid);
    }
    if (at({ locked: 'awaitingReady' }) && scenario.killBeforeReady) {
      // The factory never finishes: kill the new daemon as soon as it shows up.
      this.background(async () => {
        let pid = 0;
        await until(() => {
          pid = this.clientDaemons().find((p) => !this.killed.has(p)) ?? 0;
          return pid > 0;
        }, 'the spawned daemon to boot');
        this.kill(pid);
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Checks of the final state
// ---------------------------------------------------------------------------------------------

function metadataPid(paths: RuntimePaths): number | undefined {
  const read = readMetadata(paths.metadata);
  return read.status === 'valid' ? read.metadata.pid : undefined;
}

async function expectLockFree(paths: RuntimePaths): Promise<void> {
  // The client releases the lock asynchronously once it leaves `locked`.
  await until(() => !existsSync(paths.lock), 'the spawn lock to be released');
}

async function expectAllDead(pids: readonly number[]): Promise<void> {
  for (const pid of pids) await until(() => !isProcessAlive(pid), `daemon ${pid} to be gone`);
}

function expectCode(error: unknown, classes: readonly (abstract new (...args: never) => Error)[], codes: readonly string[]): void {
  expect(
    classes.some((cls) => error instanceof cls),
    `${String(error)} is a ${classes.map((c) => c.name).join(' or ')}`,
  ).toBe(true);
  expect(codes).toContain((error as { code?: string }).code);
}

function errnoOf(error: unknown): string | undefined {
  return (error as { cause?: { code?: string } }).cause?.code;
}

async function expectConnected(world: ClientWorld, proxy: Remote<Counter>): Promise<void> {
  const { scenario, paths } = world;
  expect(await proxy.echo('model')).toBe('model');
  const { pid } = await world.svc.ping();
  expect(metadataPid(paths)).toBe(pid);
  expect(isProcessAlive(pid)).toBe(true);
  const spawned = world.clientDaemons();
  expect(spawned, 'daemons the client spawned').toHaveLength(scenario.spawns);
  if (scenario.spawns === 0) {
    // It used the world's daemon: the one running, continued, or published meanwhile.
    expect(pid).toBe(world.daemon);
  } else {
    expect(pid).toBe(spawned.at(-1));
    expect(world.staged.has(pid)).toBe(false);
  }
  if (scenario.lock === 'holderPublishes') {
    // It never took the lock: the holder still has it.
    expect(world.holder!.alive).toBe(true);
    expect(lstatSync(paths.lock).isDirectory()).toBe(true);
  } else {
    await expectLockFree(paths);
  }
  if (scenario.world === 'mismatched') {
    // Replaced: the daemon of the other factory drained and exited.
    await expectAllDead([world.daemon!]);
  }
  if (scenario.world === 'draining' || scenario.world === 'drainingDamaged') {
    // Never beside it: the draining daemon was waited for, ended by its drain deadline (which
    // it logged), and exited before the new one booted.
    const old = world.daemon!;
    expect(isProcessAlive(old)).toBe(false);
    const log = readFileSync(paths.log, 'utf8');
    expect(log).toContain(`[daemon ${old}] drain deadline passed (drainTimeoutMs ${DRAIN_MS} ms): exiting with 1 running call (never)`);
    const oldExit = log.indexOf(`[daemon ${old}] exit 0 (stopped)`);
    expect(oldExit).toBeGreaterThan(-1);
    expect(oldExit).toBeLessThan(log.indexOf(`[daemon ${pid}] `));
  }
  if (scenario.world === 'foreign') {
    // A reused pid is stale on sight: nothing, not even a hello, went to its listener.
    expect(world.foreign!.messages()).toEqual([]);
  }
}

async function expectFailed(world: ClientWorld, error: unknown): Promise<void> {
  const { scenario, paths } = world;
  const last = scenario.events.at(-1)!;
  const before = scenario.from.at(-1)!.value;
  const spawned = world.clientDaemons();
  // Exactly the daemons the path spawns, except that a daemon abandoned by the start timeout
  // may be killed before it could write to daemon.log.
  const abandoned = last.type === TIMEOUT && JSON.stringify(before) === JSON.stringify({ locked: 'awaitingReady' });
  if (abandoned) expect(spawned.length).toBeLessThanOrEqual(scenario.spawns);
  else expect(spawned, 'daemons the client spawned').toHaveLength(scenario.spawns);
  await expectAllDead(spawned);
  const staging = last.error?.staging;
  switch (last.type) {
    case TIMEOUT:
      if (scenario.world === 'silent') {
        // A live pid whose listener never answers: as far as the client can tell, a frozen
        // daemon. It is reported, and left alone: its record stays.
        expectCode(error, [ConnectionFailedError], ['ERR_DAEMON_UNRESPONSIVE']);
        expect((error as Error).message).toContain(
          `(pid ${process.pid}) is running but did not complete a handshake within startTimeoutMs (${scenario.startTimeoutMs} ms)`,
        );
        expect(metadataPid(paths)).toBe(process.pid);
      } else {
        expectCode(error, [ConnectionFailedError], ['ERR_CONNECTION_FAILED']);
        expect((error as Error).message).toContain(`within ${scenario.startTimeoutMs} ms (stuck in ${JSON.stringify(before)}`);
      }
      break;
    case 'xstate.error.actor.connect':
    case 'xstate.error.actor.recheck':
      if (staging === FAILURES.otherProtocol.staging) {
        expectCode(error, [HandshakeError], ['ERR_PROTOCOL_VERSION']);
        expect((error as HandshakeError).daemonPid).toBe(world.daemon);
      } else {
        expect(staging).toBe(FAILURES.mismatch.staging);
        expectCode(error, [FactoryMismatchError], ['ERR_FACTORY_MISMATCH']);
      }
      // Believed, so left alone: the daemon runs on and stays published.
      expect(isProcessAlive(world.daemon!)).toBe(true);
      expect(metadataPid(paths)).toBe(world.daemon);
      break;
    case 'xstate.error.actor.acquireLock':
      expectCode(error, [ConnectionFailedError], ['ERR_CONNECTION_FAILED']);
      expect(errnoOf(error)).toBe('ENOTDIR');
      expect(lstatSync(paths.lock).isFile()).toBe(true);
      break;
    case 'xstate.error.actor.replaceDaemon':
      // Connecting to a daemon that was just SIGKILLed: refused, or closed mid-handshake.
      expectCode(error, [ConnectionFailedError, HandshakeError], ['ERR_CONNECTION_FAILED', 'ERR_HANDSHAKE']);
      await expectAllDead([world.daemon!]);
      break;
    case 'xstate.error.actor.cleanStale':
      expectCode(error, [ConnectionFailedError], ['ERR_CONNECTION_FAILED']);
      expect(errnoOf(error)).toBe('EISDIR');
      expect(lstatSync(paths.metadata).isDirectory()).toBe(true);
      break;
    case 'xstate.error.actor.spawnDaemon':
      expectCode(error, [ConnectionFailedError], ['ERR_CONNECTION_FAILED']);
      expect(errnoOf(error)).toBe('EISDIR');
      expect(lstatSync(paths.log).isDirectory()).toBe(true);
      break;
    case 'xstate.error.actor.awaitReady':
      if (staging === FAILURES.factoryThrows.staging) {
        expectCode(error, [FactoryError], ['ERR_FACTORY']);
        expect((error as Error).message).toContain('constructor refused');
      } else {
        // The last of the daemons killed before they were ready: the attempt gives up.
        expect(staging).toBe(FAILURES.diedBeforeReady.staging);
        expectCode(error, [ConnectionFailedError], ['ERR_CONNECTION_FAILED']);
        expect((error as Error).message).toContain('before it was ready');
        expect([...world.killed].sort()).toEqual([...spawned].sort());
      }
      break;
    case 'xstate.error.actor.connectSpawned':
      expect(staging).toBe(FAILURES.diedAtHandshake.staging);
      expectCode(error, [ConnectionFailedError, HandshakeError], ['ERR_CONNECTION_FAILED', 'ERR_HANDSHAKE']);
      expect([...world.killed].sort()).toEqual([...spawned].sort());
      break;
    default:
      throw new Error(`no check for a path that fails on ${last.type}`);
  }
  if (scenario.lock === 'holderKeeps') {
    // Its live lock was not stolen, and nothing was started or cleaned meanwhile.
    expect(world.holder!.alive).toBe(true);
    expect(lstatSync(paths.lock).isDirectory()).toBe(true);
    expect(existsSync(paths.metadata)).toBe(false);
  } else if (scenario.lock !== 'staleFile') {
    await expectLockFree(paths);
  }
}

// ---------------------------------------------------------------------------------------------
// Driving one path
// ---------------------------------------------------------------------------------------------

async function drive(path: ModelPath, index: number): Promise<void> {
  const scenario = scenarioOf(path);
  const world = new ClientWorld(index, scenario);
  await world.arrange();

  const records: TransitionRecord[] = [];
  const onRecord = (message: unknown) => {
    const record = message as TransitionRecord;
    if (record.name !== world.name || record.area !== 'client') return;
    records.push(record);
    try {
      world.react(record.to);
    } catch (error) {
      world.problems.push(error);
    }
  };
  subscribe(CHANNEL, onRecord);
  onTestFinished(() => void unsubscribe(CHANNEL, onRecord));

  const settled = await outcome(world.svc.proxy() as Promise<Remote<Counter>>);
  await world.settled();
  expect(world.problems).toEqual([]);
  unsubscribe(CHANNEL, onRecord);

  // One client actor ran, and it went exactly the path's way.
  expect(new Set(records.map((r) => r.actor)).size).toBe(1);
  expect(records.map(({ event, to }) => ({ event, to }))).toEqual(expectedTransitions(path));

  if (scenario.final === 'connected') {
    expect(settled).toHaveProperty('value');
    const proxy = (settled as { value: Remote<Counter> }).value;
    try {
      await expectConnected(world, proxy);
    } finally {
      await proxy[Symbol.asyncDispose]();
    }
  } else {
    expect(settled).toHaveProperty('error');
    await expectFailed(world, (settled as { error: unknown }).error);
  }
}

describe('client statechart, driven against real processes', () => {
  it('has paths to drive (and every path reads a world at discovery)', () => {
    expect(paths.length).toBeGreaterThan(0);
    for (const path of paths) expect(() => scenarioOf(path)).not.toThrow();
    // The published daemon comes back from discovery only after a published lock outcome.
    const published = paths.filter((p) => p.steps.some((s: Step) => JSON.stringify((s.event as ModelEvent).output) === JSON.stringify(PUBLISHED)));
    expect(published.length).toBeGreaterThan(0);
  });

  paths.forEach((path, index) => {
    it(title(path, index), () => drive(path, index), 40_000);
  });
});
