/**
 * The order of the test files in a mutation run (vitest.mutation.config.ts): the statechart
 * tests first, then the other fast files, the in-process daemons and the property tests last.
 *
 * Why: StrykerJS runs every test file for a static mutant (the charts are built when their
 * module loads, so 95 % of machines/ mutants are static) and stops at the first failing test
 * (its vitest runner sets `bail: 1`). A chart mutant is nearly always failed by
 * test/machines/ or the model coverage test within a second or two; run first, they end the
 * run before the slower files load. Survivors still run every file: the set of tests that can
 * kill a mutant is the same, only the order changes. (Vitest's own order puts the slowest
 * file first.)
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** Path fragments, fastest killers first; a file matching none goes just before the last group. */
const ORDER = ['/test/machines/', '/test/model/', '/test/unit/', '/test/diagrams.test.ts', '/test/inproc/', '/test/property/'];

function rank(file: TestSpecification): number {
  const at = ORDER.findIndex((fragment) => file.moduleId.includes(fragment));
  return at === -1 ? ORDER.length - 1.5 : at;
}

export class MutationSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    return [...files].sort((a, b) => rank(a) - rank(b) || a.moduleId.localeCompare(b.moduleId));
  }
}
