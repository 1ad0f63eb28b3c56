/**
 * StrykerJS, for `npm run mutate` (docs/TESTING.md): every mutant of machines/ and src/ is run
 * against the fast in-process test files (vitest.mutation.config.ts). The real-process suites
 * run dist/ in spawned daemons, which no mutant reaches. Too slow for CI; run by hand.
 * `npm run mutate` is scripts/mutate.mjs: a machines/ pass and a src/ pass, each incremental
 * with its own file; `npm run mutate -- --mutate <files>` is one plain, fresh run.
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  // `related: true`: a mutant runs only in the test files whose imports reach its file (vitest's
  // module graph), the dry run only in those that reach a mutated file. A test file that does
  // not load a module cannot kill its mutants, so the tests that can kill one stay the same
  // (checked on samples; the one known gap, a module loaded only by a hosted fixture through a
  // computed import, is in docs/TESTING.md). What it saves is the static mutants (95 % of
  // machines/), which otherwise run every file of the set: a static survivor ran 1882 tests in
  // 96 files, now the ~90-270 tests of the files that load it; the dry run and a static
  // mutant's timeout (1.5 x the dry run's test time + 10 s + its overhead) shrink with it.
  vitest: { configFile: 'vitest.mutation.config.ts', related: true },
  coverageAnalysis: 'perTest',
  mutate: ['machines/**/*.ts', 'src/**/*.ts'],
  // The sandbox needs the sources, the tests and their fixtures, not the build or the docs.
  ignorePatterns: ['dist', 'reports', 'docs', 'examples', 'scripts', '.stryker-tmp'],
  // The project's machine has 2 cores.
  concurrency: 2,
  timeoutMS: 10_000,
  // A dry run of every file of the set took 4 min 1 s and 4 min 5 s on 2 cores at a load average
  // of 7-10 (2026-12-07): Stryker's default of 5 min leaves too little room on a busy machine.
  dryRunTimeoutMinutes: 10,
  reporters: ['clear-text', 'progress-append-only', 'json', 'html'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  // Off for a plain run, so that `--mutate <files>` scores afresh and writes no committed file;
  // scripts/mutate.mjs turns it on per pass, with reports/stryker-incremental-{machines,src}.json
  // (committed; reports/mutation/ is not), so a rerun after a small change tests only what changed.
  incremental: false,
  tempDirName: '.stryker-tmp',
  thresholds: { high: 97, low: 90, break: null },
};
