/**
 * Coverage only (docs/TESTING.md, "Coverage"): which mutants of machines/ and src/ the
 * in-process tests reach, from one dry run, no mutant run. `npx stryker run test/support/stryker-coverage.config.mjs`.
 */
import base from '../../stryker.config.mjs';

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  ...base,
  testRunner: 'vitest-coverage',
  plugins: [...base.plugins, './test/support/coverage-runner.mjs'],
  incremental: false,
  reporters: ['clear-text', 'json'],
  jsonReporter: { fileName: 'reports/mutation/coverage.json' },
  clearTextReporter: { reportTests: false, reportMutants: false },
};
