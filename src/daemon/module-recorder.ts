/**
 * Records the local files the factory loads, each with a hash of its content, so that a
 * client can tell when a module the factory imports was edited (not only the factory file).
 * On Node 22.15+ a module hook (`module.registerHooks()`, in-thread, ~1.5 ms) sees every file
 * the loader loads, ES modules and `require` alike. Node 20's only hook, `module.register()`,
 * runs on a loader thread whose start costs ~60-120 ms of every cold start (measured), so
 * there the files are found after the import instead: what `require()` loaded (the CommonJS
 * cache), and the ES modules reachable from the factory file by literal relative specifiers
 * (a static scan). Files in node_modules and this package's own are left out (see
 * ../runtime/module-files.ts).
 */
import { readFileSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { hashFileContent, isLocalModule, MAX_RECORDED_MODULES } from '../runtime/module-files.js';

/** This package's directory (dist/), whose files are covered by the package version. */
const OWN_DIR = fileURLToPath(new URL('../../', import.meta.url));
/** `import ... from '<s>'`, `export ... from '<s>'`, `import '<s>'`, `import('<s>')`. */
const IMPORT_SPECIFIER = /(?:^|[^\w$.])(?:import|export)\s*(?:[\w$*{}\s,]+?\s*from\s*)?\(?\s*(['"])([^'"\n]+)\1/g;
const LOCAL_SPECIFIER = /^(\.{1,2}\/|\/|file:)/;

const recorded = new Map<string, string>();
let snapshot: Readonly<Record<string, string>> | undefined;
let overflow = 0;
let hooked = false;

/** Records `path` with the hash of `bytes` (read once), unless it is not local or already known. */
function recordPath(path: string, bytes?: Uint8Array): void {
  if (recorded.has(path) || !isLocalModule(path, OWN_DIR)) return;
  if (recorded.size >= MAX_RECORDED_MODULES) {
    overflow++;
    return;
  }
  try {
    recorded.set(path, hashFileContent(bytes ?? readFileSync(path)));
  } catch {
    return;
  }
  snapshot = undefined;
}

function recordUrl(url: string): void {
  if (!url.startsWith('file:')) return;
  try {
    recordPath(fileURLToPath(url));
  } catch {
    // not a local path
  }
}

type RegisterHooks = (hooks: { load: (url: string, context: unknown, next: (url: string, context: unknown) => unknown) => unknown }) => unknown;

/**
 * Starts recording; call before the factory is imported. Says how it records, for the log:
 * `hooks` (every file loaded) or `scan` (Node < 22.15: found after the import).
 */
export function startRecordingModules(): 'hooks' | 'scan' {
  const registerHooks = (nodeModule as unknown as { registerHooks?: RegisterHooks }).registerHooks;
  if (typeof registerHooks !== 'function') return 'scan';
  registerHooks({
    load: (url, context, next) => {
      const result = next(url, context);
      recordUrl(url);
      return result;
    },
  });
  hooked = true;
  return 'hooks';
}

/** Records the local ES modules reachable from `url` by literal relative specifiers. */
function scan(url: string): void {
  const pending = [url];
  const visited = new Set<string>();
  while (pending.length > 0 && recorded.size < MAX_RECORDED_MODULES) {
    const next = pending.pop()!;
    if (visited.has(next) || !next.startsWith('file:')) continue;
    visited.add(next);
    let path: string;
    let source: Buffer;
    try {
      path = fileURLToPath(next);
      source = readFileSync(path);
    } catch {
      continue; // a specifier in a comment or string, or a file gone since
    }
    if (!isLocalModule(path, OWN_DIR)) continue;
    recordPath(path, source);
    for (const match of source.toString('utf8').matchAll(IMPORT_SPECIFIER)) {
      const specifier = match[2]!;
      if (!LOCAL_SPECIFIER.test(specifier)) continue;
      try {
        pending.push(specifier.startsWith('/') ? pathToFileURL(specifier).href : new URL(specifier, next).href.replace(/[?#].*$/, ''));
      } catch {
        // not a URL
      }
    }
  }
}

/**
 * Completes the record once the factory has returned: without a hook, scans from the factory
 * module; either way adds what `require()` loaded.
 */
export function settleRecordedModules(factoryModule: string): void {
  if (!hooked) scan(factoryModule);
  for (const path of Object.keys(nodeModule.createRequire(import.meta.url).cache)) recordPath(path);
}

/** The recorded files: absolute path -> content hash. */
export function recordedModules(): Readonly<Record<string, string>> {
  snapshot ??= Object.freeze(Object.fromEntries(recorded));
  return snapshot;
}

/** How many local files were left unrecorded past {@link MAX_RECORDED_MODULES}. */
export function unrecordedModules(): number {
  return overflow;
}
