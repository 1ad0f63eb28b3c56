/**
 * `loopback-singleton diagrams` (src/cli/diagrams.ts) in this process: which writer it runs,
 * with which `--out`, and what it exits with when the writer fails or cannot be started. The
 * writer's run is replaced (it is dist/'s script); what it writes is test/diagrams.test.ts's.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/diagrams.js';

const runs = vi.hoisted(() => ({ calls: [] as unknown[][], result: {} as { status: number | null; error?: Error } }));
vi.mock('node:child_process', async (load) => {
  const actual = await load<typeof import('node:child_process')>();
  const spawnSync = (...args: unknown[]) => {
    runs.calls.push(args);
    return runs.result;
  };
  return { ...actual, default: { ...actual, spawnSync }, spawnSync };
});

const WRITER = join(fileURLToPath(new URL('../../src/diagrams/', import.meta.url)), 'main.js');

beforeEach(() => {
  runs.calls = [];
  runs.result = { status: 0 };
});

describe('diagrams', () => {
  it('runs the diagrams writer beside it with this Node, into ./diagrams by default, its output shown', async () => {
    expect(await run({ root: '/unused', values: {}, positionals: [] })).toBe(0);
    expect(runs.calls).toEqual([[process.execPath, [WRITER, '--out', resolve('diagrams')], { stdio: 'inherit' }]]);
  });

  it('into --out, resolved; exits 1 when the writer fails', async () => {
    runs.result = { status: 3 };
    expect(await run({ root: '/unused', values: { out: 'some/dir' }, positionals: [] })).toBe(1);
    expect(runs.calls[0]![1]).toEqual([WRITER, '--out', resolve('some/dir')]);
    runs.result = { status: null };
    expect(await run({ root: '/unused', values: { out: '/abs' }, positionals: [] })).toBe(1);
    expect(runs.calls[1]![1]).toEqual([WRITER, '--out', '/abs']);
  });

  it('a writer that cannot be started: exit 1, saying why', async () => {
    runs.result = { status: null, error: new Error('spawnSync node ENOMEM') };
    const err: string[] = [];
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => err.push(String(chunk)) > 0);
    try {
      expect(await run({ root: '/unused', values: {}, positionals: [] })).toBe(1);
    } finally {
      stderr.mockRestore();
    }
    expect(err.join('')).toBe('loopback-singleton: could not run the diagrams writer: spawnSync node ENOMEM\n');
  });

  it('an empty --out is a usage error, and nothing runs', async () => {
    await expect(run({ root: '/unused', values: { out: '' }, positionals: [] })).rejects.toMatchObject({ name: 'UsageError' });
    expect(runs.calls).toEqual([]);
  });
});
