import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { FactoryError } from '../../dist/src/errors.js';
import { daemonConfig, FIXTURES, freshRuntime, isAlive, SERVICES_URL, spawnDaemon, startDaemon } from '../support/daemon.js';

async function bootFailure(factory: { module: string; export: string }, overrides = {}) {
  const { paths } = freshRuntime();
  const error = await spawnDaemon(daemonConfig(paths, { factory, ...overrides }), 15_000).catch((e: unknown) => e);
  expect(existsSync(paths.metadata)).toBe(false);
  return { error: error as FactoryError, paths };
}

describe('boot', () => {
  it('constructs a class with new and the factory arguments', async () => {
    const daemon = await startDaemon({ args: [10, { step: 2 }] });
    const connection = await daemon.connect();
    expect(await connection.call('inc', [])).toBe(12);
  });

  it('calls and awaits a factory function, a default export and a namespaced export', async () => {
    for (const [exportName, expected] of [
      ['makeCounter', 8],
      ['default', 101],
      ['ns.Counter', 8],
    ] as const) {
      const daemon = await startDaemon({ factory: { module: SERVICES_URL, export: exportName }, args: [7] });
      const connection = await daemon.connect();
      expect(await connection.call('inc', []), exportName).toBe(expected);
      connection.close();
    }
  });

  it("reports an import error with the module's own message and stack", async () => {
    const module = pathToFileURL(join(FIXTURES, 'import-fails.mjs')).href;
    const { error } = await bootFailure({ module, export: 'default' });
    expect(error).toBeInstanceOf(FactoryError);
    expect(error.code).toBe('ERR_FACTORY');
    expect(error.message).toBe('import-time failure from the factory module');
    expect(error.remoteStack).toContain('import-fails.mjs');
  });

  it('reports a constructor throw with its name, message and stack', async () => {
    const { error } = await bootFailure({ module: SERVICES_URL, export: 'Throws' });
    expect(error).toBeInstanceOf(FactoryError);
    expect(error.message).toBe('constructor refused: bad configuration');
    expect(error.remoteName).toBe('RangeError');
    expect(error.remoteStack).toContain('services.mjs');
  });

  it('reports a missing module, a missing export, a non-function export and an empty result', async () => {
    const missing = await bootFailure({ module: pathToFileURL(join(FIXTURES, 'no-such-file.mjs')).href, export: 'default' });
    expect(missing.error).toBeInstanceOf(FactoryError);
    expect(missing.error.remoteCode).toBe('ERR_MODULE_NOT_FOUND');

    const noExport = await bootFailure({ module: SERVICES_URL, export: 'Nope' });
    expect(noExport.error).toBeInstanceOf(FactoryError);
    expect(noExport.error.message).toContain('Counter'); // lists what the module does export

    const notFunction = await bootFailure({ module: SERVICES_URL, export: 'notAFunction' });
    expect(notFunction.error).toBeInstanceOf(FactoryError);
    expect(notFunction.error.message).toContain('number');

    const empty = await bootFailure({ module: SERVICES_URL, export: 'returnsNothing' });
    expect(empty.error).toBeInstanceOf(FactoryError);
    expect(empty.error.message).toContain('undefined');
  });

  it('a factory that never finishes fails at the boot timeout instead of living forever', async () => {
    const module = pathToFileURL(join(FIXTURES, 'hangs.mjs')).href;
    const { error, paths } = await bootFailure({ module, export: 'never' }, { bootTimeoutMs: 300 });
    expect(error).toBeInstanceOf(FactoryError);
    expect(error.message).toContain('boot timeout');
    const { readFileSync } = await import('node:fs');
    const pid = Number(/\[daemon (\d+)\]/.exec(readFileSync(paths.log, 'utf8'))![1]);
    const { waitForExit } = await import('../support/daemon.js');
    await waitForExit(pid);
    expect(isAlive(pid)).toBe(false);
  });
});
