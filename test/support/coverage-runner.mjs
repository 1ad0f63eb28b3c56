/**
 * A StrykerJS test runner for measuring which mutants the in-process tests reach, without
 * running any mutant (docs/TESTING.md, "Coverage"): Stryker's dry run (vitest, per-test
 * coverage) decides which mutants no test reaches (NoCoverage); every other mutant is reported
 * Survived at once instead of being run. So `covered = all - no coverage`, for all of src/ in the
 * time of one dry run. Used by ./stryker-coverage.config.mjs; never for a score.
 */
import { commonTokens, declareFactoryPlugin, PluginKind, tokens } from '@stryker-mutator/api/plugin';
import { strykerPlugins as vitestPlugins } from '@stryker-mutator/vitest-runner';

const vitestFactory = vitestPlugins[0].factory;

function createCoverageRunner(injector) {
  const vitest = injector.injectFunction(vitestFactory);
  return {
    capabilities: () => vitest.capabilities(),
    init: () => vitest.init(),
    dryRun: (options) => vitest.dryRun(options),
    // Not run: a covered mutant is reported as survived, which is all this runner is for.
    mutantRun: async () => ({ status: 'survived', nrOfTests: 0 }),
    dispose: () => vitest.dispose(),
  };
}
createCoverageRunner.inject = tokens(commonTokens.injector);

export const strykerPlugins = [declareFactoryPlugin(PluginKind.TestRunner, 'vitest-coverage', createCoverageRunner)];
