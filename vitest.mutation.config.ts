/**
 * The tests `npm run mutate` (StrykerJS, stryker.config.json) runs against each mutant: the
 * fast ones that load `machines/` and `src/` in this process. Files that start real daemons
 * from `dist/` see no mutant (Stryker mutates a sandbox copy of the source, never the build),
 * so they would only cost time; they stay in the everyday suite (vitest.config.ts).
 */
import { defineConfig } from 'vitest/config';
import { MutationSequencer } from './test/support/mutation-sequencer.js';

export default defineConfig({
  test: {
    include: [
      'test/unit/**/*.test.ts',
      'test/inproc/**/*.test.ts',
      'test/machines/**/*.test.ts',
      'test/property/**/*.test.ts',
      'test/model/coverage.test.ts',
      'test/diagrams.test.ts',
      // The cluster registry (src/registry/), in this process against a real etcd cluster.
      'test/cluster/**/*.test.ts',
    ],
    exclude: [
      // Child processes of the built package or of the TypeScript compiler: nothing to mutate there.
      'test/unit/compile-cache.test.ts',
      'test/unit/remote-types.test.ts',
      'test/property/handshake.test.ts',
      // Child processes of dist/ against etcd (the CLI, a paused contender); and the test etcd
      // cluster itself, which has no source to mutate.
      'test/cluster/list.test.ts',
      'test/cluster/pause.test.ts',
      'test/cluster/etcd-cluster.test.ts',
      // scope 'cluster' end to end: daemons and clients of dist/ as processes, nothing mutated reaches them.
      'test/cluster/cold-start.test.ts',
      'test/cluster/failover.test.ts',
      'test/cluster/fencing.test.ts',
      'test/cluster/etcd-faults.test.ts',
      'test/cluster/mismatch.test.ts',
      'test/cluster/tls.test.ts',
      'test/cluster/registry-faults.test.ts',
    ],
    // A test file that fails to load counts as a failed test (stryker-js #6150).
    reporters: ['default', './test/support/load-failures.ts'],
    // Chart tests first: with Stryker's bail, a static chart mutant they kill ends the run there.
    sequence: { sequencer: MutationSequencer },
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
