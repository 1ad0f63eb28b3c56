// `npm run mutate` (docs/TESTING.md, "Mutation testing"): StrykerJS in two passes, machines/
// then src/, each incremental with its own file; other arguments are passed to both
// (`npm run mutate -- --force`). Arguments with `--mutate` make it one plain `stryker run`
// with them (`npm run mutate -- --mutate 'machines/**/*.ts'`). Not part of the package.
//
// Why two passes: with `vitest.related` (stryker.config.mjs) a dry run runs only the test files
// that load a mutated file, and every static mutant's timeout is 1.5 x that dry run's test time
// + 10 s + its overhead. A machines/-only dry run is the chart files (26 files, 40 s of tests
// and 42 s overhead for two chart files on 2026-12-07), a dry run of both folders all 96 files
// (98-128 s of tests, 71-117 s overhead): a chart mutant that hangs would cost 2-5 min, not 2.
import { spawnSync } from 'node:child_process';

const PASSES = [
  ['--mutate', 'machines/**/*.ts', '--incrementalFile', 'reports/stryker-incremental-machines.json'],
  ['--mutate', 'src/**/*.ts', '--incrementalFile', 'reports/stryker-incremental-src.json'],
];

const args = process.argv.slice(2);
const narrow = args.some((arg) => arg === '--mutate' || arg === '-m' || arg.startsWith('--mutate='));
for (const pass of narrow ? [args] : PASSES.map((flags) => [...flags, '--incremental', ...args])) {
  const { status, signal } = spawnSync('npx', ['stryker', 'run', ...pass], { stdio: 'inherit' });
  if (status !== 0) process.exit(status ?? (signal ? 1 : 0));
}
