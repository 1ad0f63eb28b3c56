/**
 * The daemon's explanation of a TypeScript factory module that this Node could not import: only
 * for .ts/.mts/.cts modules and the two codes Node gives; name and code kept, original as cause.
 */
import { describe, expect, it } from 'vitest';
import { explainTypeScriptImportError, stripFlagHint } from '../../src/daemon/typescript.js';

function nodeError(name: string, code: string, message: string): Error {
  const error = name === 'SyntaxError' ? new SyntaxError(message) : new TypeError(message);
  return Object.assign(error, { code });
}

const UNKNOWN = (): Error => nodeError('TypeError', 'ERR_UNKNOWN_FILE_EXTENSION', 'Unknown file extension ".ts" for /app/services.ts');
const UNSUPPORTED = (): Error => nodeError('SyntaxError', 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX', 'TypeScript enum is not supported in strip-only mode\n  at 1:1');

describe('explainTypeScriptImportError', () => {
  it.each(['file:///app/services.ts', 'file:///app/services.mts', 'file:///app/services.cts'])('explains an unknown extension for %s', (url) => {
    const original = UNKNOWN();
    const explained = explainTypeScriptImportError(url, original)!;
    expect(explained.name).toBe('TypeError');
    expect((explained as { code?: unknown }).code).toBe('ERR_UNKNOWN_FILE_EXTENSION');
    expect(explained.cause).toBe(original);
    expect(explained.message).toContain(`${url} is TypeScript`);
    expect(explained.message).toContain(process.version);
    expect(explained.message).toMatch(/Node 22\.18\+ or 24.*--import tsx.*`execArgv` option.*compiled \.js/);
  });

  it('explains syntax that type stripping cannot erase', () => {
    const explained = explainTypeScriptImportError('file:///app/services.ts', UNSUPPORTED())!;
    expect(explained.name).toBe('SyntaxError');
    expect((explained as { code?: unknown }).code).toBe('ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX');
    expect(explained.message).toContain('(TypeScript enum is not supported in strip-only mode)');
    expect(explained.message).toContain('erasableSyntaxOnly');
    expect(explained.message).toContain('--experimental-transform-types');
  });

  it.each([
    ['a .js module', 'file:///app/services.js', UNKNOWN()],
    ['a .tsx module (not run by Node)', 'file:///app/view.tsx', UNKNOWN()],
    ['another error of a .ts module', 'file:///app/services.ts', nodeError('Error', 'ERR_MODULE_NOT_FOUND', 'Cannot find module')],
    ['a thrown non-Error', 'file:///app/services.ts', 'boom'],
  ])('leaves %s alone', (_label, url, error) => {
    expect(explainTypeScriptImportError(url, error)).toBeUndefined();
  });
});

describe('stripFlagHint', () => {
  it.each([
    ['20.20.2', undefined, ''],
    ['22.5.1', undefined, ''],
    ['22.6.0', undefined, '--experimental-strip-types` turns'],
    ['22.17.0', false, '--experimental-strip-types` turns'],
    ['23.5.0', false, '--experimental-strip-types` turns'],
    ['22.18.0', false, '--no-experimental-strip-types`): leave'],
    ['24.21.0', false, '--no-experimental-strip-types`): leave'],
    ['24.21.0', 'strip', ''],
  ])('Node %s with features.typescript %o', (version, feature, expected) => {
    const hint = stripFlagHint(version, feature);
    if (expected === '') expect(hint).toBe('');
    else expect(hint).toContain(expected);
  });
});
