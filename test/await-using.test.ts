/**
 * The README's table of TypeScript targets for `await using`, checked on the Node that runs the
 * suite (CI: 20, 22 and 24): for each target row, the Quick start is compiled with tsc with that
 * target and run against a real daemon; a cell that says "works" must print the Quick start's
 * output, a cell that names an error must fail with it.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { localSingleton } from '../dist/src/index.js';
import { writeConsumerTsconfig } from './support/consumer.js';
import { freshRoot } from './support/daemon.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

/** The rows of the README's table that name targets: the targets and what this Node does. */
function targetRows(): Array<{ targets: string[]; expected: string }> {
  const section = README.slice(README.indexOf('### `await using` and TypeScript targets'));
  const lines = section.split('\n').filter((line) => line.startsWith('|'));
  const header = lines[0]!.split('|').map((cell) => cell.trim());
  const column = header.indexOf(`Node ${NODE_MAJOR}`);
  expect(column, `the README's await using table has no column for Node ${NODE_MAJOR}`).toBeGreaterThan(0);
  return lines
    .slice(2)
    .map((line) => line.split('|').map((cell) => cell.trim()))
    .filter((cells) => cells[1]!.startsWith('`target`'))
    .map((cells) => ({ targets: [...cells[1]!.matchAll(/`(ES\w+)`/g)].map((m) => m[1]!), expected: cells[column]! }));
}

/** The Quick start's two blocks, compiled with `target` in a fresh project that depends on this package. */
async function compileQuickStart(target: string): Promise<string> {
  const [services, app] = [...README.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const project = mkdtempSync(join(inject('suiteRoot'), `await-using-${target}-`));
  mkdirSync(join(project, 'node_modules'));
  symlinkSync(ROOT, join(project, 'node_modules', 'loopback-singleton'));
  writeFileSync(join(project, 'package.json'), '{ "type": "module" }\n');
  writeConsumerTsconfig(project, target, { skipLibCheck: true });
  writeFileSync(join(project, 'services.ts'), services!);
  writeFileSync(join(project, 'app.ts'), app!);
  await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project]);
  return join(project, 'out');
}

/** Runs the compiled Quick start once, in a fresh runtime root whose daemon is stopped at the end. */
async function runQuickStart(out: string): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  const runtimeDir = freshRoot();
  onTestFinished(() => localSingleton('my-counter', join(out, 'services.js:Counter'), { runtimeDir }).shutdown({ force: true }));
  const env = { ...process.env, LOOPBACK_SINGLETON_RUNTIME_DIR: runtimeDir };
  return run(process.execPath, [join(out, 'app.js')], { env, timeout: 20_000 }).then(
    ({ stdout, stderr }) => ({ ok: true, stdout, stderr }),
    (error: { stdout: string; stderr: string }) => ({ ok: false, stdout: error.stdout, stderr: error.stderr }),
  );
}

describe(`await using on Node ${process.version}, as the README's table says`, () => {
  const rows = targetRows();

  it('the table has rows for the recommended targets and for ESNext', () => {
    expect(rows.flatMap((row) => row.targets)).toEqual(expect.arrayContaining(['ES2022', 'ESNext']));
  });

  it.each(rows.flatMap((row) => row.targets.map((target) => [target, row.expected] as const)))(
    'target %s: %s',
    async (target, expected) => {
      const out = await compileQuickStart(target);
      const emitted = readFileSync(join(out, 'app.js'), 'utf8');
      // What tsc does with it: kept for ESNext, rewritten below it.
      expect(/^await using /m.test(emitted)).toBe(target === 'ESNext');
      const result = await runQuickStart(out);
      if (expected.startsWith('works')) {
        expect(result).toEqual({ ok: true, stdout: '12\npong\n', stderr: '' });
      } else {
        const error = /`(\w+Error)`/.exec(expected)?.[1];
        expect(error, `the README's cell "${expected}" names no error`).toBeDefined();
        expect(result.ok).toBe(false);
        expect(result.stderr).toContain(`${error}:`);
      }
    },
    60_000,
  );
});
