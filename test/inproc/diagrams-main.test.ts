/**
 * `npm run diagrams` (src/diagrams/main.ts) run in this process: it runs its command line when
 * it loads, so each case loads it afresh with that command line, and reads what it printed,
 * the exit code it set and the files it wrote.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DIAGRAM_SOURCES } from '../../src/diagrams/generate.js';
import { makeRoot, removeRoot } from '../support/in-process.js';

interface Run {
  readonly exitCode: number | string | undefined;
  readonly stdout: string;
  readonly stderr: string;
}

async function runMain(...args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const argv = process.argv;
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => out.push(String(chunk)) > 0);
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => err.push(String(chunk)) > 0);
  process.argv = [argv[0]!, 'main.js', ...args];
  vi.resetModules();
  try {
    await import('../../src/diagrams/main.js');
    return { exitCode: process.exitCode, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.argv = argv;
    process.exitCode = undefined;
    stdout.mockRestore();
    stderr.mockRestore();
  }
}

const USAGE = 'usage: node dist/src/diagrams/main.js [--out <dir>] [--check]\n';
const FILES = ['README.md', ...DIAGRAM_SOURCES.flatMap(({ name }) => [`${name}.mmd`, `${name}.svg`])].sort();

let dir: string;
beforeEach(() => {
  dir = makeRoot('lbs-diagrams-');
});
afterEach(() => {
  removeRoot(dir);
});

describe('the diagrams writer', () => {
  it('--help prints the usage; a bad argument exits 2 saying which', async () => {
    expect(await runMain('--help')).toEqual({ exitCode: 0, stdout: USAGE, stderr: '' });
    expect(await runMain('-h')).toEqual({ exitCode: 0, stdout: USAGE, stderr: '' });
    expect(await runMain('--nope')).toEqual({ exitCode: 2, stdout: '', stderr: `diagrams: Unknown argument \`--nope\`\n${USAGE}` });
    expect(await runMain('--out')).toEqual({ exitCode: 2, stdout: '', stderr: `diagrams: Expected a directory after \`--out\`\n${USAGE}` });
    expect(await runMain('--out', '')).toMatchObject({ exitCode: 2, stderr: `diagrams: Expected a directory after \`--out\`\n${USAGE}` });
    expect(await runMain('--out=')).toMatchObject({ exitCode: 2, stderr: `diagrams: Unknown argument \`--out=\`\n${USAGE}` });
  });

  it('writes every diagram into --out, then finds it up to date; --check names a stale or missing file and exits 1', async () => {
    const shown = relative(process.cwd(), dir);
    const wrote = await runMain('--out', dir);
    expect(wrote.exitCode).toBe(0);
    expect(wrote.stdout.split('\n').filter(Boolean).sort()).toEqual(FILES.map((file) => `diagrams: wrote ${join(shown, file)} (new)`).sort());
    expect(readdirSync(dir).sort()).toEqual(FILES);
    expect(readFileSync(join(dir, 'daemon.mmd'), 'utf8')).toContain('stateDiagram');

    expect(await runMain(`--out=${dir}`, '--check')).toEqual({ exitCode: 0, stdout: `diagrams: ${shown} is up to date\n`, stderr: '' });
    expect(await runMain('--out', dir)).toEqual({ exitCode: 0, stdout: `diagrams: ${shown} is up to date\n`, stderr: '' });

    writeFileSync(join(dir, 'daemon.mmd'), 'edited by hand');
    removeRoot(join(dir, 'mailbox.svg'));
    const check = await runMain('--check', '--out', dir);
    expect(check).toMatchObject({ exitCode: 1, stdout: '', stderr: expect.stringMatching(/^diagrams: out of date, run `npm run diagrams`:\n/) });
    expect(check.stderr.split('\n').slice(1).filter(Boolean).sort()).toEqual([`  ${join(shown, 'daemon.mmd')}`, `  ${join(shown, 'mailbox.svg')} (missing)`]);
    // --check wrote nothing.
    expect(readFileSync(join(dir, 'daemon.mmd'), 'utf8')).toBe('edited by hand');

    const mended = await runMain('--out', dir);
    expect(mended.stdout.split('\n').filter(Boolean).sort()).toEqual([
      `diagrams: wrote ${join(shown, 'daemon.mmd')}`,
      `diagrams: wrote ${join(shown, 'mailbox.svg')} (new)`,
    ]);
  });

  it("without --out it checks the repository's diagrams/", async () => {
    expect(await runMain('--check')).toEqual({ exitCode: 0, stdout: 'diagrams: diagrams is up to date\n', stderr: '' });
  });
});
