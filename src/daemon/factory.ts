/**
 * Creating the hosted object: import the factory module by absolute URL, find the export,
 * construct a class with `new` or call a function, awaiting its result once if it is a
 * Promise. An object with a `then()` method is hosted as it is, never awaited as a thenable.
 */
import { FactoryError } from '../errors.js';
import { decodeValue } from '../wire/codec.js';
import { explainTypeScriptImportError } from './typescript.js';

/** True when `fn` is a class (constructible only with `new`). */
function isClass(fn: (...args: unknown[]) => unknown): boolean {
  return /^class[\s{]/.test(Function.prototype.toString.call(fn));
}

/**
 * The hosted object, boxed: a promise resolved with an object that has a `then()` method
 * would call it and become what it resolves to (or never settle).
 */
export interface HostedObject {
  readonly object: object;
}

/**
 * Imports `moduleUrl`, resolves `exportPath` (`default`, `Counter`, `ns.Counter`) and
 * creates the object with the MessagePack-encoded `encodedArgs`. A factory function's result
 * is awaited once when it is a native Promise (an async function's), and taken as it is
 * otherwise: a plain object with a `then()` method is the object, not a thenable. (An async
 * factory that returns such an object cannot be helped: JavaScript itself calls its `then`.)
 * @throws the module's or the constructor's own error unchanged (an import error of a
 *   TypeScript module this Node cannot run with a message that says what to do: ./typescript.ts),
 *   or a {@link FactoryError} saying what is missing.
 */
export async function createHostedObject(moduleUrl: string, exportPath: string, encodedArgs: Uint8Array): Promise<HostedObject> {
  const namespace = (await import(moduleUrl).catch((error: unknown) => {
    throw explainTypeScriptImportError(moduleUrl, error) ?? error;
  })) as Record<string, unknown>;
  let target: unknown = namespace;
  for (const part of exportPath.split('.')) {
    target = target === null || target === undefined ? undefined : (target as Record<string, unknown>)[part];
  }
  if (target === undefined) {
    const available = Object.keys(namespace).join(', ') || '(none)';
    throw new FactoryError(`Module ${moduleUrl} has no export "${exportPath}"; its exports are: ${available}`);
  }
  if (typeof target !== 'function') {
    throw new FactoryError(`Export "${exportPath}" of ${moduleUrl} is a ${typeof target}; expected a class or a function that returns the object`);
  }
  const args = decodeValue(encodedArgs);
  if (!Array.isArray(args)) throw new FactoryError('Factory arguments must be an array');
  const factory = target as (...args: unknown[]) => unknown;
  let object: unknown;
  if (isClass(factory)) {
    object = new (factory as unknown as new (...args: unknown[]) => unknown)(...args);
  } else {
    object = factory(...args);
    if (object instanceof Promise) object = await object;
  }
  if (object === null || (typeof object !== 'object' && typeof object !== 'function')) {
    throw new FactoryError(
      `Factory "${exportPath}" of ${moduleUrl} returned ${object === null ? 'null' : typeof object}; it must return an object whose methods are to be shared`,
    );
  }
  return { object };
}

/**
 * The hosted object's own cleanup, `[Symbol.asyncDispose]()` or `dispose()`. Resolves with
 * what happened, for the log (undefined when there is no hook); never rejects.
 */
export function disposeHostedObject(object: object): Promise<string | undefined> {
  const hooks = object as { [Symbol.asyncDispose]?: unknown; dispose?: unknown };
  const hook = typeof hooks[Symbol.asyncDispose] === 'function' ? hooks[Symbol.asyncDispose] : hooks.dispose;
  if (typeof hook !== 'function') return Promise.resolve(undefined);
  return Promise.resolve()
    .then(() => (hook as () => unknown).call(object))
    .then(
      () => 'dispose hook done',
      (error: unknown) => `dispose hook threw: ${(error as Error)?.stack ?? String(error)}`,
    );
}
