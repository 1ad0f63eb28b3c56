/**
 * A vitest reporter for mutation runs (vitest.mutation.config.ts): a test file that failed to
 * load (its import threw, so it collected no test) gets one failed test carrying the load error.
 *
 * Why: `@stryker-mutator/vitest-runner` 9.6.1 builds a mutant's result from the tests it finds
 * in each file and scores "no test failed" as Survived, so a mutant that stops a module from
 * loading (a static mutant that throws at import) would count as a survivor the tests do catch
 * (stryker-js issue #6150; the fix, PR #6217, is not released). The runner reads the same File
 * tasks this reporter sees, after every reporter's `onTestRunEnd` has run. Drop this file once a
 * runner release reports collection failures itself.
 */
import type { Reporter, TestModule } from 'vitest/node';

type FileTask = TestModule['task'];
type TestTask = Extract<FileTask['tasks'][number], { type: 'test' }>;

/** The name of the stand-in test, as Stryker's report shows it. */
export const LOAD_FAILURE_TEST = 'the test file loads';

/** Adds a failed stand-in test to `file` when it failed and holds no task; returns whether it did. */
export function markLoadFailure(file: FileTask): boolean {
  if (file.result?.state !== 'fail' || file.tasks.length > 0) return false;
  const errors = file.result.errors ?? [];
  // Only the fields a reader of a finished run looks at: vitest builds a test's context itself
  // while running it, and nothing runs this one.
  const test = {
    type: 'test',
    id: `${file.id}_load`,
    name: LOAD_FAILURE_TEST,
    fullName: `${file.name} > ${LOAD_FAILURE_TEST}`,
    mode: 'run',
    file,
    suite: file,
    meta: {},
    annotations: [],
    artifacts: [],
    timeout: 0,
    result: { state: 'fail', errors: errors.length > 0 ? errors : [{ message: `${file.name} failed to load`, name: 'Error' }] },
  } as unknown as TestTask;
  file.tasks.push(test);
  return true;
}

/** The reporter: {@link markLoadFailure} on every file of the run. */
export default class LoadFailuresAsFailedTests implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    for (const module of testModules) markLoadFailure(module.task);
  }
}
