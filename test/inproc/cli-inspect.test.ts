/**
 * `loopback-singleton inspect` (src/cli/inspect.ts) in this process: the scope it announces,
 * the records file from the environment, `--open` launching the desktop's browser with each
 * platform's command (the launch itself replaced: no browser is started), a launch that fails,
 * and `--port` row by row. Serving until SIGINT is ./cli.test.ts's.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parsePort, run } from '../../src/cli/inspect.js';
import { makeRoot, removeRoot } from '../support/in-process.js';

const launches = vi.hoisted(() => ({ calls: [] as unknown[][], throws: false, children: [] as (EventEmitter & { unrefs: number })[] }));
vi.mock('node:child_process', async (load) => {
  const actual = await load<typeof import('node:child_process')>();
  const spawn = (...args: unknown[]) => {
    launches.calls.push(args);
    if (launches.throws) throw new Error('EAGAIN: simulated');
    const child = Object.assign(new EventEmitter(), { unrefs: 0, unref: () => void child.unrefs++ });
    launches.children.push(child);
    return child;
  };
  return { ...actual, default: { ...actual, spawn }, spawn };
});

// The page's scripts are compiled beside the server in dist/; from src/ they are stand-ins.
vi.mock('node:fs', async (load) => {
  const fs = await load<typeof import('node:fs')>();
  const readFileSync = ((path: unknown, ...rest: unknown[]) => {
    const text = String(path);
    if (text.endsWith('/src/inspector/page/app.js') || text.endsWith('/src/inspector/model.js')) return '// script';
    return (fs.readFileSync as (...args: unknown[]) => unknown)(path, ...rest);
  }) as typeof fs.readFileSync;
  return { ...fs, default: { ...fs, readFileSync }, readFileSync };
});

let root: string;
beforeEach(() => {
  root = makeRoot('lbs-inspect-cli-');
  launches.calls = [];
  launches.children = [];
  launches.throws = false;
});
afterEach(() => {
  vi.unstubAllEnvs();
  removeRoot(root);
});

/** Runs inspect until it printed its address, then stops it as SIGINT would; resolves with what it wrote. */
async function inspect(values: Record<string, string | boolean>, positionals: string[] = []): Promise<{ code: number; stdout: string; stderr: string; url: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => out.push(String(chunk)) > 0);
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => err.push(String(chunk)) > 0);
  const before = new Set([...process.listeners('SIGINT'), ...process.listeners('SIGTERM')]);
  try {
    const running = run({ root, values, positionals });
    await vi.waitFor(() => expect(out.join('')).toContain('Ctrl-C to stop'), { timeout: 10_000 });
    const url = out.join('').split('\n')[0]!.slice('inspector: '.length);
    // Whatever --open launched may report its failure after the address is printed.
    for (const child of launches.children) child.emit('error', new Error('ENOENT: simulated'));
    (process.listeners('SIGINT').find((listener) => !before.has(listener)) as () => void)();
    const code = await running;
    return { code, stdout: out.join(''), stderr: err.join(''), url };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      for (const listener of process.listeners(signal)) if (!before.has(listener)) process.removeListener(signal, listener);
    }
  }
}

describe('inspect', () => {
  it('without names: every singleton under the root; the records file from LOOPBACK_SINGLETON_INSPECT; no browser without --open', async () => {
    const records = join(root, 'from-env.ndjson');
    vi.stubEnv('LOOPBACK_SINGLETON_INSPECT', records);
    const { code, stdout } = await inspect({});
    expect(code).toBe(0);
    expect(stdout.split('\n')[1]).toBe(`showing every singleton under ${root}, and client transitions from ${records}; Ctrl-C to stop`);
    expect(launches.calls).toEqual([]);
  });

  it('an empty LOOPBACK_SINGLETON_INSPECT is no records file', async () => {
    vi.stubEnv('LOOPBACK_SINGLETON_INSPECT', '');
    const { stdout } = await inspect({}, ['svc']);
    expect(stdout.split('\n')[1]).toBe('showing "svc"; Ctrl-C to stop');
  });

  it.each([
    ['linux', 'xdg-open', (url: string) => [url]],
    ['darwin', 'open', (url: string) => [url]],
    ['win32', 'cmd', (url: string) => ['/c', 'start', '""', url]],
  ] as const)('--open on %s runs %s with the address, detached, and says so when it fails', async (platform, command, args) => {
    const real = Object.getOwnPropertyDescriptor(process, 'platform')!;
    Object.defineProperty(process, 'platform', { ...real, value: platform });
    let result: Awaited<ReturnType<typeof inspect>>;
    try {
      result = await inspect({ open: true });
    } finally {
      Object.defineProperty(process, 'platform', real);
    }
    expect(result.code).toBe(0);
    expect(launches.calls).toEqual([[command, args(result.url), { stdio: 'ignore', detached: true }]]);
    expect(launches.children[0]!.unrefs).toBe(1);
    expect(result.stderr).toContain(`loopback-singleton: could not open a browser (${command}); open the address above\n`);
  });

  it('--open when the launch itself throws: the inspector still serves, and exits 0', async () => {
    launches.throws = true;
    const { code, stderr } = await inspect({ open: true });
    expect(code).toBe(0);
    expect(launches.calls).toHaveLength(1);
    expect(stderr).not.toContain('could not open a browser');
  });

  it('a records path that is empty is a usage error', async () => {
    await expect(run({ root, values: { records: ' ' }, positionals: [] })).rejects.toMatchObject({ name: 'UsageError' });
  });
});

describe('parsePort', () => {
  it.each([
    ['0', 0],
    ['1', 1],
    ['8080', 8080],
    ['65535', 65535],
    ['00080', 80],
  ])('%s -> %d', (text, port) => {
    expect(parsePort(text)).toBe(port);
  });

  it.each(['65536', '99999', '-1', '1.5', '', ' 80', '123456', '0x50', 'abc'])('%j is refused, quoted in the message', (text) => {
    expect(() => parsePort(text)).toThrow(`--port must be an integer from 0 to 65535 (0: any free port), got ${JSON.stringify(text)}`);
  });
});
