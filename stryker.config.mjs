/**
 * StrykerJS, for `npm run mutate` (docs/TESTING.md): every mutant of machines/ and src/ is run
 * against the fast in-process test files (vitest.mutation.config.ts). The real-process suites
 * run dist/ in spawned daemons, which no mutant reaches. Too slow for CI; run by hand.
 *
 * @type {import('@stryker-mutator/api/core').PartialStrykerOptions}
 */
export default {
  testRunner: 'vitest',
  plugins: ['@stryker-mutator/vitest-runner'],
  // `related: false`: every file of the mutation config is a candidate, and per-test coverage
  // picks the tests that reach each mutant (vitest's import graph misses what machines provide).
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  coverageAnalysis: 'perTest',
  mutate: ['machines/**/*.ts', 'src/**/*.ts'],
  // The sandbox needs the sources, the tests and their fixtures, not the build or the docs.
  ignorePatterns: ['dist', 'reports', 'docs', 'examples', 'scripts', '.stryker-tmp'],
  // The project's machine has 2 cores.
  concurrency: 2,
  timeoutMS: 10_000,
  reporters: ['clear-text', 'progress-append-only', 'json', 'html'],
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  // Committed (reports/mutation/ is not), so a rerun after a small change tests only what changed.
  incremental: true,
  incrementalFile: 'reports/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  thresholds: { high: 97, low: 90, break: null },
};
