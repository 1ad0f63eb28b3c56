/**
 * Node's module compile cache (`module.enableCompileCache()`, Node 22.1+): V8 keeps the code
 * it compiled for each module on disk, and later processes start from it instead of compiling
 * again. The daemon turns it on for itself (src/daemon/main.ts); a client may opt in with
 * {@link enableCompileCache}.
 *
 * Where: `<runtime root>/@compile-cache`, beside the singletons' directories. The runtime root
 * is already per user (`$XDG_RUNTIME_DIR/loopback-singleton`, `~/.cache/loopback-singleton`,
 * or the `runtimeDir` / `LOOPBACK_SINGLETON_RUNTIME_DIR` you chose), and the cache directory
 * is made and vetted like a singleton's (mode 0700, not a symlink, owned by this user): code
 * read from it runs in the daemon, so it gets the same trust as the token. Node checks each
 * entry against the module's source and refuses one made by another Node version, so a stale
 * entry is recompiled, never run. On Node 20 (no `enableCompileCache`) nothing happens.
 * A cache that cannot be enabled is never an error: modules then compile as usual.
 */
import * as nodeModule from 'node:module';
import { join } from 'node:path';
import { ensurePrivateDir } from './dir.js';

/** The cache directory's name under the runtime root: '@' keeps it apart from every singleton name (and out of `list` and `clean`). */
export const COMPILE_CACHE_DIR_NAME = '@compile-cache';

/**
 * What came of enabling the compile cache: `enabled` (in `directory`), `already-enabled`
 * (by `NODE_COMPILE_CACHE` or an earlier call; `directory` is that one), `disabled` (by
 * `NODE_DISABLE_COMPILE_CACHE`), `unsupported` (Node < 22.1) or `failed` (`message` says why).
 */
export interface CompileCacheResult {
  readonly status: 'enabled' | 'already-enabled' | 'disabled' | 'unsupported' | 'failed';
  readonly directory?: string;
  readonly message?: string;
}

interface NodeCompileCache {
  enableCompileCache?: (dir?: string) => { status: number; message?: string; directory?: string };
  constants?: { compileCacheStatus?: Record<'FAILED' | 'ENABLED' | 'ALREADY_ENABLED' | 'DISABLED', number> };
}

/** Turns on Node's compile cache in `directory` (created private if missing); never throws. */
export function enableCompileCacheIn(directory: string): CompileCacheResult {
  const { enableCompileCache, constants } = nodeModule as unknown as NodeCompileCache;
  const codes = constants?.compileCacheStatus;
  if (typeof enableCompileCache !== 'function' || codes === undefined) return { status: 'unsupported' };
  try {
    ensurePrivateDir(directory);
    const result = enableCompileCache(directory);
    const status =
      result.status === codes.ENABLED
        ? 'enabled'
        : result.status === codes.ALREADY_ENABLED
          ? 'already-enabled'
          : result.status === codes.DISABLED
            ? 'disabled'
            : 'failed';
    return {
      status,
      ...(result.directory === undefined ? {} : { directory: result.directory }),
      ...(result.message === undefined ? {} : { message: result.message }),
    };
  } catch (error) {
    return { status: 'failed', message: (error as Error).message };
  }
}

/** The compile cache directory under runtime root `root`. */
export function compileCacheDirIn(root: string): string {
  return join(root, COMPILE_CACHE_DIR_NAME);
}

/** One line for the daemon log. */
export function describeCompileCache(result: CompileCacheResult): string {
  const where = result.directory === undefined ? '' : ` (${result.directory})`;
  const why = result.message === undefined ? '' : `: ${result.message}`;
  return `${result.status}${where}${why}`;
}
