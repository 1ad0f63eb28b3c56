/**
 * Loads one of the bundle's CommonJS libraries (dist/bundle/lib/client.cjs, daemon.cjs) the
 * way Node's own CommonJS loader would, but compiled with a V8 code cache kept beside it.
 *
 * Why: a cold start is two Node processes, each compiling the library before it can do
 * anything, and V8 compiles lazily, function by function, as the cold path first runs them.
 * On a slow machine that compiling was ~40 ms per process. `npm run build` runs one cold
 * start with {@link CODE_CACHE_ENV}=write (scripts/bundle.mjs), and each process saves the
 * code V8 compiled for it; later processes start from that code. Node 20 has no compile cache
 * for ES modules (`module.enableCompileCache` came in Node 22), hence CommonJS and `vm.Script`.
 *
 * The cache is only a shortcut, never a source of truth:
 * - it is used only for the exact source it was made from (a SHA-256 of the source heads the
 *   file; V8's own check looks at the source's length only);
 * - V8 refuses it for another Node or V8 version or other V8 flags, and the source is then
 *   compiled as usual;
 * - it lives in the package's own directory, so whoever can change it can change the code
 *   beside it too.
 *
 * With source maps on (`node --enable-source-maps`), the library is `require`d instead: Node 20
 * maps the stacks of code its module loaders compiled, not of a `vm.Script`'s.
 */
import { createRequire } from 'node:module';

// Builtins through `require`: an `import` of one builds its ES-module facade, which for
// node:fs runs every lazy getter (streams, promises) the library never uses.
const require = createRequire(import.meta.url);
const { readFileSync, renameSync, rmSync, writeFileSync } = require('node:fs') as typeof import('node:fs');
const { createHash } = require('node:crypto') as typeof import('node:crypto');
const { dirname } = require('node:path') as typeof import('node:path');
const { fileURLToPath } = require('node:url') as typeof import('node:url');
const { Script } = require('node:vm') as typeof import('node:vm');

/** Env var: `write` makes a process save the code caches of the libraries it loaded, at exit. */
export const CODE_CACHE_ENV = 'LOOPBACK_SINGLETON_CODE_CACHE';

const HASH_BYTES = 32;

/**
 * What happened to the code cache: used (`accepted`), none there (`absent`), made from
 * another source (`stale`), refused by V8 (`rejected`: another Node, V8 or flags), or not
 * looked for because source maps are on (`unused`).
 */
export type CodeCacheStatus = 'accepted' | 'absent' | 'stale' | 'rejected' | 'unused';

/** A loaded library. */
export interface LoadedBundle {
  readonly file: string;
  readonly exports: Record<string, unknown>;
  readonly cache: CodeCacheStatus;
  /** Writes the code V8 has compiled for the library so far to its cache file (atomically). */
  saveCodeCache(): void;
}

/** The cache file of `file`. */
export function codeCacheFileOf(file: string): string {
  return `${file}.v8cache`;
}

/** `import()` for the library: see src/runtime/import-module.ts. */
function importModule(url: string): Promise<unknown> {
  return import(url);
}

/** True when Node maps stack traces through source maps (`process.sourceMapsEnabled`: Node 20.7+). */
function sourceMapsEnabled(): boolean {
  const enabled = (process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled;
  return enabled ?? process.execArgv.includes('--enable-source-maps');
}

/** Reads the cache of a source with `hash`: its V8 data, or why there is none. */
function readCodeCache(cacheFile: string, hash: Buffer): Buffer | 'absent' | 'stale' {
  let data: Buffer;
  try {
    data = readFileSync(cacheFile);
  } catch {
    return 'absent';
  }
  if (data.length <= HASH_BYTES || !hash.equals(data.subarray(0, HASH_BYTES))) return 'stale';
  return data.subarray(HASH_BYTES);
}

/**
 * Runs the CommonJS library at `url` (module wrapper: `exports`, `require`, `module`,
 * `__filename`, `__dirname`, plus the importer the bundle's import-module.js uses) and returns
 * its exports. With env {@link CODE_CACHE_ENV}=`write`, its cache is saved when the process
 * exits.
 */
export function loadBundle(url: URL | string): LoadedBundle {
  const file = url instanceof URL || url.startsWith('file:') ? fileURLToPath(url) : url;
  if (sourceMapsEnabled()) {
    return {
      file,
      exports: require(file) as Record<string, unknown>,
      cache: 'unused',
      saveCodeCache() {
        throw new Error(`loopback-singleton: no code cache is made for ${file} while source maps are on`);
      },
    };
  }
  const bytes = readFileSync(file);
  const hash = createHash('sha256').update(bytes).digest();
  const cacheFile = codeCacheFileOf(file);
  const cached = readCodeCache(cacheFile, hash);
  const wrapper = `(function (exports, require, module, __filename, __dirname, __loopbackImport) {${bytes.toString('utf8')}\n})`;
  const script = new Script(wrapper, {
    filename: file,
    ...(typeof cached === 'string' ? {} : { cachedData: cached }),
  });
  const cache: CodeCacheStatus = typeof cached === 'string' ? cached : script.cachedDataRejected ? 'rejected' : 'accepted';
  const module = { exports: {} as Record<string, unknown> };
  const run = script.runInThisContext() as (...args: unknown[]) => void;
  run.call(module.exports, module.exports, createRequire(file), module, file, dirname(file), importModule);
  const loaded: LoadedBundle = {
    file,
    exports: module.exports,
    cache,
    saveCodeCache() {
      const temp = `${cacheFile}.${process.pid}.tmp`;
      try {
        writeFileSync(temp, Buffer.concat([hash, script.createCachedData()]));
        renameSync(temp, cacheFile);
      } catch (error) {
        rmSync(temp, { force: true });
        throw error;
      }
    },
  };
  if (process.env[CODE_CACHE_ENV] === 'write') {
    process.once('exit', () => {
      try {
        loaded.saveCodeCache();
      } catch (error) {
        process.stderr.write(`loopback-singleton: could not write the code cache ${cacheFile}: ${(error as Error).message}\n`);
      }
    });
  }
  return loaded;
}
