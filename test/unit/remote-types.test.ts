/**
 * Runs the type tests of `Remote<T>` (test/types/remote.ts): tsc fails on any of its
 * `@ts-expect-error` lines that is not an error, so a callback parameter or a result that
 * cannot cross the wire must stay a type error at the call site.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');

describe('Remote<T> types', () => {
  // A whole tsc run: 19-26 s in CI, 33 s on a machine loaded by other runs, past the suite's 30 s default.
  it('compile: what crosses is accepted, a callback parameter or an uncrossable result is refused', { timeout: 150_000 }, () => {
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'test', 'types', 'tsconfig.json')], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  });
});
