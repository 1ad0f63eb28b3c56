/**
 * The client's opt-in to Node's module compile cache. The daemon always uses it (it owns its
 * process); a client process is yours, so this library turns nothing on in it by itself.
 */
import { compileCacheDirIn, enableCompileCacheIn, type CompileCacheResult } from './runtime/compile-cache.js';
import { resolveRuntimeRoot } from './runtime/paths.js';

export type { CompileCacheResult } from './runtime/compile-cache.js';

/**
 * Turns on Node's module compile cache (`module.enableCompileCache()`, Node 22.1+) for this
 * process, in the directory the daemons use: `<runtime root>/@compile-cache`, private to you
 * (mode 0700). Every module loaded after the call is compiled from the cache when an entry for
 * its exact source and Node version is there, and saved to it otherwise: this package's
 * daemon-facing parts, which it loads on the first `proxy()`, `ensureStarted()`, `ping()` or
 * `shutdown()`, and whatever your code imports later. Modules loaded before the call (your
 * entry's static imports) are not covered: for those, set env `NODE_COMPILE_CACHE=<dir>`
 * instead. Never throws: on Node 20 it returns `{ status: 'unsupported' }`, and a directory
 * that cannot be used gives `{ status: 'failed', message }`.
 * @param options.runtimeDir the runtime root, if you pass one to `localSingleton()` too
 * @example
 * import { enableCompileCache, localSingleton } from 'loopback-singleton';
 *
 * enableCompileCache(); // before the first proxy()
 * const counter = await localSingleton('my-counter', './services.js:Counter').proxy();
 */
export function enableCompileCache(options: { readonly runtimeDir?: string } = {}): CompileCacheResult {
  let root: string;
  try {
    root = resolveRuntimeRoot(options.runtimeDir);
  } catch (error) {
    return { status: 'failed', message: (error as Error).message };
  }
  return enableCompileCacheIn(compileCacheDirIn(root));
}
