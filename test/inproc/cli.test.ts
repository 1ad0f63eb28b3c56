/**
 * The `loopback-singleton` command (src/cli/) run in this process against a daemon served in
 * this process (test/support/in-process.ts): what each command prints, its exit code, and
 * what it changes on disk. The CLI as an installed binary is test/cli.test.ts.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { localSingleton, type LocalSingletonService } from '../../src/client/service.js';
import { writeMetadata } from '../../src/runtime/metadata.js';
import { runtimePaths } from '../../src/runtime/paths.js';
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '../../src/version.js';
import { formatDuration } from '../../src/cli/format.js';
import { daemons, makeRoot, removeRoot, SERVICES, stopInProcessDaemons } from '../support/in-process.js';
import { fakeRecord } from '../support/records.js';

vi.mock('../../src/client/daemon-process.js', async (load) => ({
  ...(await load<typeof import('../../src/client/daemon-process.js')>()),
  spawnDaemonProcess: (await import('../support/in-process.js')).spawnInProcess,
}));

// The inspector's page scripts are compiled beside it in dist/; from src/ they are stand-ins.
vi.mock('node:fs', async (load) => {
  const fs = await load<typeof import('node:fs')>();
  const readFileSync = ((path: unknown, ...rest: unknown[]) => {
    const text = String(path);
    if (text.endsWith('/src/inspector/page/app.js') || text.endsWith('/src/inspector/model.js')) return '// script';
    return (fs.readFileSync as (...args: unknown[]) => unknown)(path, ...rest);
  }) as typeof fs.readFileSync;
  return { ...fs, default: { ...fs, readFileSync }, readFileSync };
});

type Main = (args: readonly string[]) => Promise<number>;
let main: Main;

/** What one command line printed and returned. */
interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function capture(action: () => Promise<number>): Promise<Outcome> {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    err.push(String(chunk));
    return true;
  });
  try {
    const code = await action();
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}

let root: string;
const cli = (...args: string[]) => capture(() => main([...args, '--runtime-dir', root]));

beforeAll(async () => {
  // The entry runs its command line when it loads: give it one that does nothing but print.
  const argv = process.argv;
  process.argv = [argv[0]!, 'loopback-singleton', '--version'];
  try {
    const loaded = await capture(async () => {
      main = (await import('../../src/cli/main.js')).main;
      return 0;
    });
    expect(loaded.stdout).toBe(`${PACKAGE_VERSION}\n`);
    expect(process.exitCode).toBe(0);
  } finally {
    process.argv = argv;
    process.exitCode = undefined;
  }
});

beforeEach(() => {
  root = makeRoot('lbs-cli-');
});
afterEach(async () => {
  await stopInProcessDaemons();
  removeRoot(root);
});

function service(name = 'svc'): LocalSingletonService<{ inc(): number }> {
  return localSingleton(name, `${SERVICES}:Counter`, { runtimeDir: root });
}

describe('the command line', () => {
  it('--help lists every command; a command help gives its synopsis and options', async () => {
    const top = await capture(() => main(['--help']));
    expect(top.code).toBe(0);
    for (const name of ['list', 'ping', 'stop', 'watch', 'inspect', 'logs', 'diagrams', 'clean']) expect(top.stdout).toContain(`  ${name}`);
    const ping = await capture(() => main(['ping', '--help']));
    expect(ping.code).toBe(0);
    expect(ping.stdout).toContain('loopback-singleton ping <name> [--json]');
    expect(ping.stdout).toContain('--runtime-dir <dir>');
    const stop = await capture(() => main(['stop', '-h']));
    expect(stop.stdout).toContain('--timeout <ms>');
    expect(stop.stdout).toContain('--force');
  });

  it('bad command lines exit 2 with one line on stderr saying what is wrong', async () => {
    const cases: Array<[string[], string]> = [
      [[], "loopback-singleton: missing command; run 'loopback-singleton --help' for the list\n"],
      [['nope'], 'loopback-singleton: unknown command "nope"; commands: list, ping, stop, watch, inspect, logs, diagrams, clean\n'],
      [['ping'], 'loopback-singleton: ping: missing <name>; usage: loopback-singleton ping <name> [--json]\n'],
      [['ping', 'a', 'b'], 'loopback-singleton: ping: unexpected argument "b"\n'],
    ];
    for (const [args, message] of cases) {
      const outcome = await capture(() => main(args));
      expect(outcome, args.join(' ')).toEqual({ code: 2, stdout: '', stderr: message });
    }
    const badName = await capture(() => main(['ping', '../x']));
    expect(badName.code).toBe(2);
    expect(badName.stderr).toMatch(/^loopback-singleton: .*\n$/);
    const badTimeout = await cli('stop', 'svc', '--timeout', 'soon');
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toContain('--timeout');
  });

  it('list: no singletons, then a live one with its pid and state, as text and as JSON', async () => {
    expect(await cli('list')).toEqual({ code: 0, stdout: `no singletons under ${root}\n`, stderr: '' });
    await service().ensureStarted();
    const text = await cli('list');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`runtime root: ${root}\n`);
    expect(text.stdout).toMatch(/NAME\s+STATUS\s+PID\s+STATE/);
    expect(text.stdout).toMatch(new RegExp(`svc\\s+alive\\s+${process.pid}\\s+serving\\.idle\\s+tcp 127\\.0\\.0\\.1:\\d+\\s+0\\s+0\\s`));
    const json = await cli('list', '--json');
    const parsed = JSON.parse(json.stdout) as { root: string; singletons: Array<Record<string, unknown>> };
    expect(parsed.root).toBe(root);
    expect(parsed.singletons).toEqual([expect.objectContaining({ name: 'svc', status: 'alive', pid: process.pid, transport: 'tcp', connections: 0, queued: 0 })]);
  });

  it("ping: the daemon's info as text and JSON; no daemon exits 1 saying so", async () => {
    const none = await cli('ping', 'svc');
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^loopback-singleton: singleton "svc" under .*\n$/);
    await service().ensureStarted();
    const text = await cli('ping', 'svc');
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`pid:          ${process.pid}\n`);
    expect(text.stdout).toContain('start reason: first\n');
    expect(text.stdout).toContain(`factory:      ${SERVICES}#Counter\n`);
    const json = JSON.parse((await cli('ping', 'svc', '--json')).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ pid: process.pid, active: 0, state: { serving: 'idle' }, factory: { module: SERVICES, export: 'Counter' } });
    // Every row, in order, its key padded to 14 columns.
    expect(text.stdout.split('\n')).toEqual([
      'name:         svc',
      `pid:          ${process.pid}`,
      'state:        serving.idle',
      `address:      tcp ${json.address as string}`,
      'connections:  0',
      'queued:       0',
      'running:      0',
      'calls served: 0',
      'calls withdrawn:0',
      expect.stringMatching(/^uptime: {7}(\d+ms|\d+s)$/),
      `idle ttl:     ${formatDuration(json.idleTtlMs as number)}`,
      `version:      ${PACKAGE_VERSION} (protocol ${PROTOCOL_VERSION})`,
      `factory:      ${SERVICES}#Counter`,
      'start reason: first',
      '',
    ]);
  });

  it('logs prints daemon.log.1 then daemon.log; no singleton or no log exits 1', async () => {
    expect(await cli('logs', 'svc')).toMatchObject({
      code: 1,
      stderr: `loopback-singleton: no singleton "svc" under ${root} (no directory ${runtimePaths(root, 'svc').dir})\n`,
    });
    mkdirSync(runtimePaths(root, 'svc').dir, { mode: 0o700 });
    expect((await cli('logs', 'svc')).stderr).toBe(`loopback-singleton: singleton "svc" has no daemon.log yet (${runtimePaths(root, 'svc').log})\n`);
    await service().ensureStarted();
    writeFileSync(`${runtimePaths(root, 'svc').log}.1`, 'older line\n');
    const logs = await cli('logs', 'svc');
    expect(logs.code).toBe(0);
    expect(logs.stdout.startsWith('older line\n')).toBe(true);
    expect(logs.stdout).toMatch(new RegExp(`\\[daemon ${process.pid}\\] ready: svc on `));
  });

  it('clean keeps a live daemon, removes dirs without one, and reports both (text and JSON)', async () => {
    await service().ensureStarted();
    mkdirSync(runtimePaths(root, 'gone').dir, { mode: 0o700 });
    const json = JSON.parse((await cli('clean', '--json')).stdout) as { removed: Array<{ name: string }>; kept: Array<{ name: string; reason: string }> };
    expect(json.removed.map((v) => v.name)).toEqual(['gone']);
    expect(json.kept).toEqual([expect.objectContaining({ name: 'svc', reason: `its daemon (pid ${process.pid}) is alive` })]);
    expect(existsSync(runtimePaths(root, 'gone').dir)).toBe(false);
    expect(existsSync(runtimePaths(root, 'svc').dir)).toBe(true);
    expect(await cli('clean', 'gone')).toEqual({ code: 0, stdout: `nothing to clean: no runtime dir for "gone" under ${root}\n`, stderr: '' });
    expect((await cli('clean', 'svc')).stdout).toBe(`kept svc: its daemon (pid ${process.pid}) is alive\n`);
  });

  it('clean keeps a dir that holds files that are not runtime files', async () => {
    const dir = runtimePaths(root, 'mine').dir;
    mkdirSync(dir, { mode: 0o700 });
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    const text = await cli('clean');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^kept mine: .*notes\.txt/);
    expect(readdirSync(dir)).toEqual(['notes.txt']);
  });

  it('stop with no daemon exits 1; a graceful stop drains the daemon and waits for its process', async () => {
    expect((await cli('stop', 'svc')).code).toBe(1);
    await service().ensureStarted();
    const [child] = daemons();
    // The process is this one: it never exits, so the wait ends by --timeout.
    const stop = await cli('stop', 'svc', '--timeout', '50');
    expect(stop.stdout).toBe(`stopping "svc" (pid ${process.pid}, graceful: accepted calls are answered first)\n`);
    expect(stop).toMatchObject({
      code: 1,
      stderr: `loopback-singleton: singleton "svc": pid ${process.pid} still runs after 50 ms (it goes on draining, within its drain deadline); try --force\n`,
    });
    expect(await child!.outcome).toBe('stopped');
    expect(existsSync(runtimePaths(root, 'svc').metadata)).toBe(false);
  });

  it('watch samples the daemon until it goes away, then prints a final line and exits 0', async () => {
    await service().ensureStarted();
    const [child] = daemons();
    const out: string[] = [];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => out.push(String(chunk)) > 0);
    try {
      const watching = main(['watch', 'svc', '--interval', '10', '--runtime-dir', root]);
      // Two samples taken: it is connected and sampling.
      await vi.waitFor(() => expect(out.length).toBeGreaterThanOrEqual(3), { timeout: 10_000 });
      child!.daemon!.shutdownRequested(false);
      expect(await watching).toBe(0);
    } finally {
      stdout.mockRestore();
    }
    const text = out.join('');
    expect(text).toMatch(
      new RegExp(`^watching "svc" \\(pid ${process.pid}, tcp 127\\.0\\.0\\.1:\\d+, version ${PACKAGE_VERSION.replace(/\./g, '\\.')}\\) every 10 ms; Ctrl-C to stop\n`),
    );
    expect(text).toMatch(/daemon "svc" went away \(pid \d+; last seen .*, 0 calls served; [1-9]\d* samples\)\n$/);
  });

  it('inspect serves until SIGINT, printing its address and scope; a bad or busy port fails saying so', async () => {
    expect(await cli('inspect', '--port', '70000')).toMatchObject({
      code: 2,
      stderr: 'loopback-singleton: --port must be an integer from 0 to 65535 (0: any free port), got "70000"\n',
    });
    const out: string[] = [];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => out.push(String(chunk)) > 0);
    const before = new Set([...process.listeners('SIGINT'), ...process.listeners('SIGTERM')]);
    const records = join(root, 'records.ndjson');
    try {
      const running = main(['inspect', 'svc', 'other', '--port', '0', '--records', records, '--runtime-dir', root]);
      await vi.waitFor(() => expect(out.join('')).toContain('Ctrl-C to stop'), { timeout: 10_000 });
      const [first, second] = out.join('').split('\n');
      expect(first).toMatch(/^inspector: http:\/\/127\.0\.0\.1:\d+\/[\w-]{32}\/$/);
      expect(second).toBe(`showing "svc", "other", and client transitions from ${records}; Ctrl-C to stop`);
      const url = first!.slice('inspector: '.length);
      expect((await fetch(url)).status).toBe(200);
      const port = Number(new URL(url).port);
      // Another inspector on the same port: refused, saying what to do.
      expect(await cli('inspect', '--port', String(port))).toMatchObject({
        code: 1,
        stderr: `loopback-singleton: port ${port} on 127.0.0.1 is in use; pass another --port, or 0 for any free one\n`,
      });
      const stop = process.listeners('SIGINT').find((listener) => !before.has(listener));
      expect(stop).toBeTypeOf('function');
      (stop as () => void)();
      expect(await running).toBe(0);
      await expect(fetch(url)).rejects.toThrow();
    } finally {
      stdout.mockRestore();
      // Called by hand, the once-listeners are still registered.
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        for (const listener of process.listeners(signal)) if (!before.has(listener)) process.removeListener(signal, listener);
      }
    }
  });

  it('logs --follow prints what is appended, across a rename and a rotation in place, until SIGINT', async () => {
    const paths = runtimePaths(root, 'svc');
    mkdirSync(paths.dir, { mode: 0o700 });
    writeFileSync(paths.log, 'one\n');
    const out: string[] = [];
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => out.push(String(chunk)) > 0);
    const before = new Set(process.listeners('SIGINT'));
    try {
      const following = main(['logs', 'svc', '-f', '--runtime-dir', root]);
      await vi.waitFor(() => expect(out.join('')).toBe('one\n'), { timeout: 5000 });
      appendFileSync(paths.log, 'two\n');
      await vi.waitFor(() => expect(out.join('')).toBe('one\ntwo\n'), { timeout: 5000 });
      // A spawn's rotation: daemon.log renamed to daemon.log.1 (after one more line), a new daemon.log.
      appendFileSync(paths.log, 'three\n');
      renameSync(paths.log, `${paths.log}.1`);
      writeFileSync(paths.log, 'four\n');
      await vi.waitFor(() => expect(out.join('')).toBe('one\ntwo\nthree\nfour\n'), { timeout: 5000 });
      // The daemon's rotation in place: copied to daemon.log.1, truncated, written again.
      appendFileSync(paths.log, 'five\n');
      writeFileSync(`${paths.log}.1`, readFileSync(paths.log));
      writeFileSync(paths.log, 'six\n');
      await vi.waitFor(() => expect(out.join('')).toBe('one\ntwo\nthree\nfour\nfive\nsix\n'), { timeout: 5000 });
      const stop = process.listeners('SIGINT').find((listener) => !before.has(listener));
      (stop as () => void)();
      expect(await following).toBe(0);
      // It let go of its signals.
      expect(process.listeners('SIGINT').filter((listener) => !before.has(listener))).toEqual([]);
    } finally {
      stdout.mockRestore();
    }
  });

  it("a dead daemon's record and a malformed one: list calls them stale, ping and stop fail saying why, clean removes them", async () => {
    const dead = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }));
    const old = runtimePaths(root, 'old');
    mkdirSync(old.dir, { mode: 0o700 });
    writeMetadata(old.metadata, fakeRecord(dead, { instanceId: 'd'.repeat(32) }));
    const broken = runtimePaths(root, 'broken');
    mkdirSync(broken.dir, { mode: 0o700 });
    writeFileSync(broken.metadata, '{"pid": 1', { mode: 0o600 });

    const listed = JSON.parse((await cli('list', '--json')).stdout) as { singletons: Array<Record<string, unknown>> };
    expect(listed.singletons).toEqual([
      expect.objectContaining({ name: 'broken', status: 'stale', pid: null, detail: expect.stringMatching(/^metadata\.json is unusable: /) }),
      expect.objectContaining({ name: 'old', status: 'stale', pid: dead, detail: `its daemon (pid ${dead}) is gone; metadata.json is stale` }),
    ]);
    const text = await cli('list');
    expect(text.stdout).toMatch(
      new RegExp(
        `\\nold\\s+stale\\s+${dead}\\s+-\\s+tcp 127\\.0\\.0\\.1:1\\s+-\\s+-\\s+-\\s+0\\.0\\.1\\s+-\\s+its daemon \\(pid ${dead}\\) is gone; metadata\\.json is stale\\n`,
      ),
    );
    expect(text.stdout).toMatch(/\nbroken\s+stale\s+-\s+-\s+-\s+-\s+-\s+-\s+-\s+-\s+metadata\.json is unusable: not valid JSON \(truncated or corrupt\)\n/);
    expect(await cli('ping', 'old')).toEqual({
      code: 1,
      stdout: '',
      stderr: `loopback-singleton: singleton "old" under ${root}: its daemon (pid ${dead}) is gone; metadata.json is stale\n`,
    });
    expect(await cli('stop', 'old')).toMatchObject({
      code: 1,
      stderr: `loopback-singleton: singleton "old" under ${root}: its daemon (pid ${dead}) is gone; metadata.json is stale\n`,
    });
    expect(await cli('stop', 'broken', '--force')).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^loopback-singleton: singleton "broken" under .*: metadata\.json is unusable: /),
    });
    const cleaned = await cli('clean');
    expect(cleaned.code).toBe(0);
    expect(cleaned.stdout.split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(/^removed broken: metadata\.json is unusable: /),
      `removed old: its daemon (pid ${dead}) is gone; metadata.json is stale`,
    ]);
    expect(existsSync(old.dir) || existsSync(broken.dir)).toBe(false);
    expect(await cli('clean')).toEqual({ code: 0, stdout: `nothing to clean under ${root}\n`, stderr: '' });
  });
});
