import { describe, expect, it } from 'vitest';
import { LoopbackSingletonError } from '../../src/errors.js';
import { isResourceFault, isUnloadableModule, loadOwnModule, localFaultError } from '../../src/runtime/local-fault.js';

const coded = (code: string, message = code) => Object.assign(new Error(message), { code });

describe('a module that could not be loaded', () => {
  it.each(['ERR_MODULE_NOT_FOUND', 'ERR_INVALID_PACKAGE_CONFIG'])('%s is how a starved process sees a module it could not open', (code) => {
    expect(isUnloadableModule(coded(code))).toBe(true);
  });

  it.each([['ERR_REQUIRE_ESM'], ['EMFILE'], ['ERR_UNKNOWN_FILE_EXTENSION']])('%s is not', (code) => {
    expect(isUnloadableModule(coded(code))).toBe(false);
  });

  it('neither is a value without a code', () => {
    expect(isUnloadableModule(undefined)).toBe(false);
    expect(isUnloadableModule('ERR_MODULE_NOT_FOUND')).toBe(false);
  });
});

describe('loadOwnModule', () => {
  it('resolves with what the load resolves with', async () => {
    const module = { value: 1 };
    await expect(loadOwnModule('x', async () => module)).resolves.toBe(module);
  });

  it.each([
    ['EMFILE', coded('EMFILE', "EMFILE: too many open files, open '/x/session.js'"), /ulimit -n/],
    ['a module reported missing', coded('ERR_MODULE_NOT_FOUND', "Cannot find package 'proper-lockfile'"), /out of file descriptors.*ulimit -n.*reinstall/],
    ['a package.json reported invalid', coded('ERR_INVALID_PACKAGE_CONFIG', 'Cannot read package config: too many open files'), /ulimit -n/],
  ])('%s: a local fault (ERR_LOOPBACK_SINGLETON) that names the module, the cause and what to do', async (_label, error, remedy) => {
    const thrown = await loadOwnModule('proper-lockfile', async () => {
      throw error;
    }).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(LoopbackSingletonError);
    expect((thrown as LoopbackSingletonError).code).toBe('ERR_LOOPBACK_SINGLETON');
    expect((thrown as Error).message).toContain('Could not load proper-lockfile');
    expect((thrown as Error).message).toContain(error.message);
    expect((thrown as Error).message).toMatch(remedy);
    expect((thrown as Error).cause).toBe(error);
  });

  it('anything else is thrown as it is', async () => {
    const broken = new SyntaxError('Unexpected token');
    await expect(
      loadOwnModule('x', async () => {
        throw broken;
      }),
    ).rejects.toBe(broken);
  });
});

describe('localFaultError', () => {
  it('names the errno remedy, found in the cause chain too', () => {
    const error = new Error('wrapped', { cause: coded('ENFILE') });
    expect(isResourceFault(error)).toBe(true);
    expect(localFaultError('read /x', error).message).toMatch(/fs\.file-max/);
  });
});
