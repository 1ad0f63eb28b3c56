/**
 * The `loopback-singleton` CLI, driven as a subprocess (node dist/src/cli/main.js) against
 * real daemons started through the public API, each in its own runtime root.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, truncateSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { closeRemote, localSingleton, LoopbackSingletonError, PACKAGE_VERSION, type LocalSingletonService } from '../dist/src/index.js';
import { acquireSpawnLock } from '../dist/src/runtime/lock.js';
import { ensurePrivateDir } from '../dist/src/runtime/dir.js';
import { runtimePaths } from '../dist/src/runtime/paths.js';
import { COUNTER, IDLE_TEST_START_TIMEOUT_MS, service } from './support/clients.js';
import { freshRoot, isAlive, waitForExit } from './support/daemon.js';
import { sleep } from './support/wait.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js');
const COMMANDS = ['list', 'ping', 'stop', 'watch', 'inspect', 'logs', 'diagrams', 'clean'];

interface Counter {
  inc(): number;
  hold<T>(ms: number, tag: T): Promise<T>;
}

interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A running CLI process: its output so far, and its end. */
interface CliProcess {
  readonly output: () => string;
  readonly done: Promise<CliRun>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts the CLI; the default runtime root (env) is a fresh, empty one unless `root` is given. */
function start(args: readonly string[], root = freshRoot()): CliProcess {
  const env = { ...process.env, LOOPBACK_SINGLETON_RUNTIME_DIR: root };
  const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const done = new Promise<CliRun>((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await done;
  });
  return { output: () => stdout, done, kill: (signal) => child.kill(signal) };
}

/** Runs the CLI to completion. */
function cli(args: readonly string[], root?: string): Promise<CliRun> {
  return start(args, root).done;
}

/** Polls `condition` until it holds; fails the test after `timeoutMs`. */
async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** A singleton `name` in `root`, force-stopped when the test ends. */
function serviceIn(root: string, name: string): LocalSingletonService<Counter> {
  const svc = localSingleton<Counter>(name, COUNTER, { runtimeDir: root, idleTtlMs: 60_000 });
  onTestFinished(() => svc.shutdown({ force: true }));
  return svc;
}

/** Starts singleton `name` in `root`, then SIGKILLs its daemon: its metadata is left stale. */
async function killedDaemon(root: string, name: string): Promise<number> {
  const { pid } = await serviceIn(root, name).ping();
  process.kill(pid, 'SIGKILL');
  await waitForExit(pid);
  return pid;
}

const rootOf = (svc: LocalSingletonService<unknown>) => dirname(svc.paths.dir);

/** The run failed the way bad usage must: exit 2, nothing on stdout, one line on stderr. */
function expectUsageError(run: CliRun): void {
  expect(run.code).toBe(2);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(/^loopback-singleton: [^\n]+\n$/);
}

/** The run failed operationally: exit 1 with one line on stderr. */
function expectFailure(run: CliRun): void {
  expect(run.code).toBe(1);
  expect(run.stderr).toMatch(/^loopback-singleton: [^\n]+\n$/);
}

/**
 * `loopback-singleton logs svc --follow` on a fresh runtime root whose daemon.log holds
 * `initial`; `output.text` is what it has printed so far. Killed at the test's end if still running.
 */
function followLogs(initial: string) {
  const root = freshRoot();
  const paths = runtimePaths(root, 'svc');
  ensurePrivateDir(paths.dir);
  writeFileSync(paths.log, initial);
  const child = spawn(process.execPath, [CLI, 'logs', 'svc', '--follow', '--runtime-dir', root], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { text: '' };
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output.text += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { paths, child, output, exited };
}

describe('loopback-singleton CLI', () => {
  it('list shows a live daemon (pid, state, address) and marks a dead one stale, as text and as JSON', async () => {
    const root = freshRoot();
    const live = serviceIn(root, 'live');
    const info = await live.ping();
    const deadPid = await killedDaemon(root, 'gone');

    const json = await cli(['list', '--runtime-dir', root, '--json']);
    expect(json.code).toBe(0);
    const listed = JSON.parse(json.stdout) as { root: string; singletons: Array<Record<string, unknown>> };
    expect(listed.root).toBe(root);
    expect(listed.singletons.map((entry) => entry.name)).toEqual(['gone', 'live']);
    const [gone, alive] = listed.singletons;
    expect(alive).toMatchObject({ status: 'alive', pid: info.pid, transport: 'tcp', address: info.address, connections: 0, queued: 0, packageVersion: PACKAGE_VERSION });
    // The CLI's own connection is an observer's: the daemon does not count it, and stays idle.
    expect(alive!.state).toBe('serving.idle');
    expect(alive).toMatchObject({ nodeVersion: process.version, execArgv: info.execArgv });
    expect(gone).toMatchObject({ status: 'stale', pid: deadPid, state: null, connections: null });

    const text = await cli(['list', '--runtime-dir', root]);
    expect(text.code).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines.find((line) => line.startsWith('live '))).toMatch(new RegExp(`^live +alive +${info.pid} +serving\\.idle +tcp ${info.address}`));
    expect(lines.find((line) => line.startsWith('gone '))).toMatch(new RegExp(`^gone +stale +${deadPid} `));
    expect(lines[1]).toMatch(/ NODE +NOTE$/);
    expect(lines.find((line) => line.startsWith('live '))).toContain(` ${process.version}`);

    // Without --runtime-dir: the library's default root (here from the environment).
    const byDefault = await cli(['list', '--json'], root);
    expect((JSON.parse(byDefault.stdout) as typeof listed).singletons.map((entry) => entry.status)).toEqual(['stale', 'alive']);
    const empty = await cli(['list']);
    expect(empty).toMatchObject({ code: 0, stderr: '' });
    expect(empty.stdout).toMatch(/^no singletons under /);
  });

  it('ping prints the live info (JSON: the daemon info object); no daemon: exit 1, one line', async () => {
    const svc = service<Counter>({ idleTtlMs: 60_000 });
    const { pid } = await svc.ping();
    const json = await cli(['ping', 'svc', '--runtime-dir', rootOf(svc), '--json']);
    expect(json.code).toBe(0);
    const info = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(info).toMatchObject({ pid, state: { serving: expect.any(String) }, packageVersion: PACKAGE_VERSION, transport: 'tcp' });

    const text = await cli(['ping', 'svc', '--runtime-dir', rootOf(svc)]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^pid: +${pid}$`, 'm'));
    expect(text.stdout).toMatch(/^state: +serving\.\w+$/m);

    const missing = await cli(['ping', 'nobody', '--runtime-dir', rootOf(svc)]);
    expectFailure(missing);
    expect(missing.stdout).toBe('');
  });

  it('stop is graceful: the accepted call is answered, then the pid is gone and the metadata removed', async () => {
    const svc = service<Counter>({ idleTtlMs: 60_000 });
    const counter = await svc.proxy();
    const { pid } = await svc.ping();
    const accepted = counter.hold(1000, 'answered');
    await until(async () => (await svc.ping()).running === 1, 'the call to run');

    const run = await cli(['stop', 'svc', '--runtime-dir', rootOf(svc)]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(new RegExp(`^stopping "svc" \\(pid ${pid}, graceful`));
    expect(run.stdout).toMatch(new RegExp(`^stopped "svc": pid ${pid} exited`, 'm'));
    expect(await accepted).toBe('answered');
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(svc.paths.metadata)).toBe(false);
    await closeRemote(counter);

    const again = await cli(['stop', 'svc', '--runtime-dir', rootOf(svc)]);
    expectFailure(again);
  });

  it('stop --force rejects the queued calls instead of running them, and waits for the exit', async () => {
    const svc = service<Counter>({ idleTtlMs: 60_000 });
    const counter = await svc.proxy();
    const { pid } = await svc.ping();
    // Held far longer than the CLI takes to start on a loaded machine: the force must find
    // the queued call still queued (the running one then ends with the process, 2 s later).
    const running = counter.hold(30_000, 'running').catch((error: unknown) => error);
    const queued = counter.hold(10, 'queued').catch((error: unknown) => error);
    await until(async () => (await svc.ping()).queued === 1, 'a queued call');

    const run = await cli(['stop', 'svc', '--force', '--runtime-dir', rootOf(svc)]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/forced/);
    const refused = await queued;
    expect(refused).toBeInstanceOf(LoopbackSingletonError);
    expect((refused as LoopbackSingletonError).code).toBe('ERR_SHUTDOWN_FORCED');
    await running;
    expect(isAlive(pid)).toBe(false);
    expect(existsSync(svc.paths.metadata)).toBe(false);
    await closeRemote(counter);
  });

  it('watch prints one line per sample (state, conns, queue, calls/s) and exits 0 when the daemon goes away', async () => {
    const svc = service<Counter>({ idleTtlMs: 60_000 });
    const counter = await svc.proxy();
    const { pid } = await svc.ping();
    const watch = start(['watch', 'svc', '--interval', '50', '--runtime-dir', rootOf(svc)]);
    const samples = () =>
      watch
        .output()
        .split('\n')
        .filter((line) => line.includes('calls/s'));
    await until(() => samples().length >= 2, 'two samples');
    const busy = () => samples().some((line) => Number(/calls\/s (\d+\.\d)/.exec(line)?.[1] ?? 0) > 0);
    while (!busy()) {
      const seen = samples().length;
      await Promise.all(Array.from({ length: 20 }, () => counter.inc()));
      await until(() => samples().length > seen, 'the next sample');
    }
    await closeRemote(counter);
    await svc.shutdown();

    const run = await watch.done;
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const lines = run.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^watching "svc" \\(pid ${pid}, tcp 127\\.0\\.0\\.1:\\d+`));
    // One connection, the proxy's: the watcher is an observer, never counted.
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d {2}state serving\.busy {2}conns 1 {2}queued \d+ {2}running \d+ {2}calls\/s - {2}served \d+ {2}withdrawn 0$/);
    expect(lines.at(-1)).toMatch(new RegExp(`^daemon "svc" went away \\(pid ${pid}`));
    // Not a terminal: plain lines, no redrawing.
    expect(run.stdout).not.toContain('\x1b[');
  });

  it('watch never keeps the daemon alive: an idle one idles out while watched, and watch exits 0', async () => {
    // Long enough for the CLI to start and connect on a loaded machine, well within its deadline.
    const svc = service<Counter>({ idleTtlMs: 3000, startTimeoutMs: IDLE_TEST_START_TIMEOUT_MS });
    const { pid } = await svc.ping();
    const watch = start(['watch', 'svc', '--interval', '50', '--runtime-dir', rootOf(svc)]);
    const run = await watch.done;
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toMatch(/ {2}state serving\.idle {2}conns 0 /);
    expect(run.stdout.trimEnd().split('\n').at(-1)).toMatch(new RegExp(`^daemon "svc" went away \\(pid ${pid}`));
    await waitForExit(pid);
  });

  it("clean removes a dead daemon's dir and keeps a live one, a start in progress and a foreign dir", async () => {
    const root = freshRoot();
    const live = serviceIn(root, 'live');
    const { pid } = await live.ping();
    await killedDaemon(root, 'dead');
    const starting = runtimePaths(root, 'starting');
    ensurePrivateDir(starting.dir);
    const lock = await acquireSpawnLock(starting, () => false, AbortSignal.timeout(10_000));
    onTestFinished(() => lock?.release());
    mkdirSync(join(root, 'notes'));
    writeFileSync(join(root, 'notes', 'todo.txt'), 'mine');

    const run = await cli(['clean', '--runtime-dir', root, '--json']);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as { removed: Array<{ name: string }>; kept: Array<{ name: string; reason: string }> };
    expect(result.removed.map((entry) => entry.name)).toEqual(['dead']);
    expect(result.kept.map((entry) => entry.name).sort()).toEqual(['live', 'notes', 'starting']);
    expect(existsSync(join(root, 'dead'))).toBe(false);
    expect(existsSync(live.paths.metadata)).toBe(true);
    expect((await live.ping()).pid).toBe(pid);

    // One by name: kept while its daemon lives, removed once it has stopped.
    const kept = await cli(['clean', 'live', '--runtime-dir', root]);
    expect(kept).toMatchObject({ code: 0, stdout: `kept live: its daemon (pid ${pid}) is alive\n` });
    await live.shutdown();
    const removed = await cli(['clean', 'live', '--runtime-dir', root]);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toMatch(/^removed live: /);
    expect(existsSync(live.paths.dir)).toBe(false);
  });

  it('logs prints daemon.log.1, then daemon.log; an unknown name: exit 1, one line', async () => {
    const svc = service<Counter>({ idleTtlMs: 60_000 });
    const { pid } = await svc.ping();
    writeFileSync(`${svc.paths.log}.1`, 'OLDER LINE\n');
    const run = await cli(['logs', 'svc', '--runtime-dir', rootOf(svc)]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout.startsWith('OLDER LINE\n')).toBe(true);
    expect(run.stdout).toContain(`[daemon ${pid}]`);
    expectFailure(await cli(['logs', 'nobody', '--runtime-dir', rootOf(svc)]));
  });

  it('logs --follow prints appended lines across both rotations until SIGINT, then exits 0', async () => {
    const { paths, child, output, exited } = followLogs('first\n');
    await until(() => output.text.includes('first\n'), 'the existing line');
    appendFileSync(paths.log, 'appended\n');
    await until(() => output.text.includes('appended\n'), 'the appended line');
    // A running daemon's rotation: copied whole to daemon.log.1, truncated in place.
    appendFileSync(paths.log, 'just before the copy\n');
    copyFileSync(paths.log, `${paths.log}.1.tmp`);
    renameSync(`${paths.log}.1.tmp`, `${paths.log}.1`);
    truncateSync(paths.log, 0);
    appendFileSync(paths.log, 'after truncation\n');
    await until(() => output.text.includes('after truncation\n'), 'the line after an in-place rotation');
    // A spawn's rotation: renamed away, a new file.
    appendFileSync(paths.log, 'before the rename\n');
    renameSync(paths.log, `${paths.log}.1`);
    writeFileSync(paths.log, 'new file\n');
    await until(() => output.text.includes('new file\n'), 'the line of the new file');
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const lines = output.text.split('\n').filter(Boolean);
    expect(lines).toEqual(['first', 'appended', 'just before the copy', 'after truncation', 'before the rename', 'new file']);
  });

  it('logs --follow tells a file rewritten past its offset from an append: it prints the new file from its start', async () => {
    const { paths, child, output, exited } = followLogs('first\nappended\n');
    await until(() => output.text.includes('appended\n'), 'the existing lines');
    // Truncated and written again, longer than before, with no daemon.log.1: only the bytes
    // before the follower's offset tell it from an append.
    writeFileSync(paths.log, 'after truncation\n');
    await until(() => output.text.includes('after truncation\n'), 'the rewritten file');
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output.text.split('\n').filter(Boolean)).toEqual(['first', 'appended', 'after truncation']);
  });

  it('inspect prints its address with a token, serves the page there only, and exits 0 on SIGINT', async () => {
    const inspect = start(['inspect', '--port', '0']);
    const address = /^inspector: (http:\/\/127\.0\.0\.1:\d+\/[\w-]{32}\/)$/m;
    await until(() => address.test(inspect.output()), 'the address');
    const url = address.exec(inspect.output())![1]!;
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<title>loopback-singleton inspector</title>');
    expect((await fetch(new URL('/', url))).status).toBe(403);
    expect(inspect.output()).toMatch(/showing every singleton under .*; Ctrl-C to stop/);
    inspect.kill('SIGINT');
    expect(await inspect.done).toMatchObject({ code: 0, stderr: '' });
  });

  it('inspect on a port in use: exit 1, one line that says what to do', async () => {
    const first = start(['inspect']);
    await until(() => /^inspector: /m.test(first.output()), 'the first inspector');
    const port = /127\.0\.0\.1:(\d+)/.exec(first.output())![1]!;
    const run = await cli(['inspect', '--port', port]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`loopback-singleton: port ${port} on 127.0.0.1 is in use; pass another --port, or 0 for any free one\n`);
  });

  it('diagrams --out writes the statechart diagrams there', async () => {
    const out = join(freshRoot(), 'diagrams');
    const run = await cli(['diagrams', '--out', out]);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    const files = readdirSync(out);
    expect(files).toContain('README.md');
    expect(files.filter((file) => file.endsWith('.mmd')).length).toBeGreaterThan(0);
    expect(run.stdout).toMatch(/wrote/);
  });

  it('every command and the top level answer --help on stdout with exit 0', async () => {
    const top = await cli(['--help']);
    expect(top).toMatchObject({ code: 0, stderr: '' });
    expect(top.stdout).toMatch(/^Usage: loopback-singleton <command>/);
    for (const command of COMMANDS) expect(top.stdout).toMatch(new RegExp(`^ {2}${command} `, 'm'));
    expect((await cli(['-h'])).stdout).toBe(top.stdout);
    for (const command of COMMANDS) {
      const run = await cli([command, '--help']);
      expect(run).toMatchObject({ code: 0, stderr: '' });
      expect(run.stdout).toMatch(new RegExp(`^Usage: loopback-singleton ${command} `));
      expect(run.stdout).toContain('--runtime-dir <dir>');
    }
  });

  it.each([
    [[]],
    [['bogus']],
    [['list', '--bogus']],
    [['list', 'extra']],
    [['ping']],
    [['ping', 'a/b']],
    [['stop', '..']],
    [['stop', 'a', 'b']],
    [['stop', 'svc', '--timeout', '-1']],
    [['watch', 'svc', '--interval', 'abc']],
    [['watch', 'svc', '--interval', '0']],
    [['watch', 'svc', '--interval']],
    [['clean', 'a b']],
    [['inspect', '--port', 'abc']],
    [['inspect', '--port', '65536']],
    [['inspect', '--port', '-1']],
    [['inspect', 'a/b']],
    [['inspect', '--records']],
    [['diagrams', '--out']],
    [['ping', 'svc', '--json=yes']],
    [['list', '--runtime-dir=']],
    [['--runtime-dir']],
  ])('bad arguments %j: exit 2 and one line on stderr', async (args) => {
    expectUsageError(await cli(args));
  });
});
