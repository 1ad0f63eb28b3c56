/**
 * Creating the hosted object (src/daemon/factory.ts) from modules the test writes to a temp
 * dir: the export path, classes and functions, async factories, thenables, what it refuses and
 * how it says so; and the hosted object's own cleanup (disposeHostedObject).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHostedObject, disposeHostedObject } from '../../src/daemon/factory.js';
import { FactoryError } from '../../src/errors.js';
import { encodeValue } from '../../src/wire/codec.js';

let dir: string;
let url: string;
let empty: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'lbs-factory-'));
  writeFileSync(
    join(dir, 'factories.mjs'),
    [
      'export class Counter { constructor(start = 0, step = 1) { this.n = start; this.step = step; } }',
      'export function make(a, b) { return { sum: a + b, self: this === undefined } }',
      'export async function later(a) { return { later: a } }',
      'export function thenable() { return { then() { return "never awaited" }, kind: "thenable" } }',
      'export function fn() { return function hosted() {} }',
      'export function none() { return null }',
      'export function number() { return 5 }',
      'export async function undef() { return undefined }',
      'export const ns = { inner: { Counter }, nothing: null };',
      'export const value = 42;',
      'export default class { constructor() { this.isDefault = true } }',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'empty.mjs'), '');
  url = pathToFileURL(join(dir, 'factories.mjs')).href;
  empty = pathToFileURL(join(dir, 'empty.mjs')).href;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function refusal(moduleUrl: string, exportPath: string, args: unknown = []): Promise<FactoryError> {
  const error = await createHostedObject(moduleUrl, exportPath, encodeValue(args)).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(FactoryError);
  return error as FactoryError;
}

describe('createHostedObject', () => {
  it('constructs a class with new and its arguments, by name, by a dotted path, or as the default export', async () => {
    expect((await createHostedObject(url, 'Counter', encodeValue([5, 2]))).object).toMatchObject({ n: 5, step: 2 });
    expect((await createHostedObject(url, 'ns.inner.Counter', encodeValue([]))).object).toMatchObject({ n: 0, step: 1 });
    expect((await createHostedObject(url, 'default', encodeValue([]))).object).toMatchObject({ isDefault: true });
  });

  it('calls a function (not as a method) with its arguments, awaits an async one once, and hosts a thenable as it is', async () => {
    expect((await createHostedObject(url, 'make', encodeValue([2, 3]))).object).toEqual({ sum: 5, self: true });
    expect((await createHostedObject(url, 'later', encodeValue(['x']))).object).toEqual({ later: 'x' });
    const { object } = await createHostedObject(url, 'thenable', encodeValue([]));
    expect((object as { kind: string }).kind).toBe('thenable');
    expect(typeof (await createHostedObject(url, 'fn', encodeValue([]))).object).toBe('function');
  });

  it('a missing export names the module and what it exports (or none)', async () => {
    const missing = await refusal(url, 'Nope');
    const [said, listed] = missing.message.split('; its exports are: ');
    expect(said).toBe(`Module ${url} has no export "Nope"`);
    // In the order the loader gives them (sorted by Node's, in declaration order by vitest's).
    expect(listed!.split(', ').sort()).toEqual(['Counter', 'default', 'fn', 'later', 'make', 'none', 'ns', 'number', 'thenable', 'undef', 'value']);
    expect((await refusal(url, 'ns.nothing.deeper')).message).toMatch(/^Module .* has no export "ns\.nothing\.deeper"; /);
    expect((await refusal(url, 'ns.absent.deeper')).message).toMatch(/has no export "ns\.absent\.deeper"/);
    expect((await refusal(empty, 'default')).message).toBe(`Module ${empty} has no export "default"; its exports are: (none)`);
  });

  it('an export that is no function, arguments that are no array, a result that is no object: each said', async () => {
    expect((await refusal(url, 'value')).message).toBe(`Export "value" of ${url} is a number; expected a class or a function that returns the object`);
    expect((await refusal(url, 'ns')).message).toBe(`Export "ns" of ${url} is a object; expected a class or a function that returns the object`);
    expect((await refusal(url, 'make', { a: 1 })).message).toBe('Factory arguments must be an array');
    expect((await refusal(url, 'none')).message).toBe(`Factory "none" of ${url} returned null; it must return an object whose methods are to be shared`);
    expect((await refusal(url, 'number')).message).toBe(`Factory "number" of ${url} returned number; it must return an object whose methods are to be shared`);
    expect((await refusal(url, 'undef')).message).toBe(`Factory "undef" of ${url} returned undefined; it must return an object whose methods are to be shared`);
  });

  it('a module that fails to load rejects with its own error', async () => {
    writeFileSync(join(dir, 'broken.mjs'), 'throw new RangeError("at load")');
    const error = await createHostedObject(pathToFileURL(join(dir, 'broken.mjs')).href, 'x', encodeValue([])).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe('at load');
  });
});

describe('disposeHostedObject', () => {
  it('calls [Symbol.asyncDispose] in preference to dispose, on the object, and says it is done', async () => {
    const calls: string[] = [];
    const object = {
      async [Symbol.asyncDispose]() {
        calls.push(this === object ? 'asyncDispose on the object' : 'asyncDispose elsewhere');
      },
      dispose() {
        calls.push('dispose');
      },
    };
    expect(await disposeHostedObject(object)).toBe('dispose hook done');
    expect(calls).toEqual(['asyncDispose on the object']);
  });

  it('falls back to dispose(); says what a hook threw (its stack, or the value); undefined without a hook', async () => {
    const calls: unknown[] = [];
    const plain = {
      dispose() {
        calls.push(this);
      },
    };
    expect(await disposeHostedObject(plain)).toBe('dispose hook done');
    expect(calls).toEqual([plain]);
    const error = new Error('cleanup failed');
    expect(
      await disposeHostedObject({
        dispose() {
          throw error;
        },
      }),
    ).toBe(`dispose hook threw: ${error.stack}`);
    expect(await disposeHostedObject({ [Symbol.asyncDispose]: () => Promise.reject('a string') })).toBe('dispose hook threw: a string');
    expect(await disposeHostedObject({ [Symbol.asyncDispose]: () => Promise.reject(null) })).toBe('dispose hook threw: null');
    expect(await disposeHostedObject({ dispose: 'not a function', [Symbol.asyncDispose]: 3 })).toBeUndefined();
    expect(await disposeHostedObject({})).toBeUndefined();
  });
});
