/**
 * Records the local files the factory loads, each with a hash of its content, so that a
 * client can tell when a module the factory imports was edited (not only the factory file).
 * A module hook sees every file the loader loads: `module.registerHooks()` (Node 22.15+,
 * in-thread, ES modules and `require` alike), else `module.register()` (Node 20.6+, hooks on
 * the loader thread, which post each URL here). What `require()` loaded is also taken from
 * the CommonJS cache, which Node 20's hooks do not see. Files in node_modules and this
 * package's own are left out (see ../runtime/module-files.ts).
 */
import * as nodeModule from 'node:module';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { hashFile, isLocalModule, MAX_RECORDED_MODULES } from '../runtime/module-files.js';

/** This package's directory (dist/), whose files are covered by the package version. */
const OWN_DIR = fileURLToPath(new URL('../../', import.meta.url));
/** How long settling waits for the loader thread to tell the last files (Node 20). */
const SETTLE_TIMEOUT_MS = 2000;

/** Hooks for `module.register()`, run on Node 20's loader thread: they post each loaded URL. */
const THREAD_HOOKS = `
let port;
export function initialize(data) {
  port = data.port;
  // A null asks "all told?": messages keep their order, so the answer comes after them.
  port.on('message', () => port.postMessage(null));
  port.unref();
}
export async function load(url, context, nextLoad) {
  const result = await nextLoad(url, context);
  if (url.startsWith('file:')) port.postMessage(url);
  return result;
}
`;

const recorded = new Map<string, string>();
let snapshot: Readonly<Record<string, string>> | undefined;
let overflow = 0;
let port: MessagePort | undefined;
let pendingSettle: (() => void) | undefined;

function recordPath(path: string): void {
  if (recorded.has(path) || !isLocalModule(path, OWN_DIR)) return;
  if (recorded.size >= MAX_RECORDED_MODULES) {
    overflow++;
    return;
  }
  recorded.set(path, hashFile(path));
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
 * Starts recording; call before the factory is imported. Returns how it records, for the
 * log: `hooks` (in-thread), `loader thread`, or `off` (Node < 20.6: only the factory file's
 * own hash then covers the code).
 */
export function startRecordingModules(): 'hooks' | 'loader thread' | 'off' {
  const registerHooks = (nodeModule as unknown as { registerHooks?: RegisterHooks }).registerHooks;
  if (typeof registerHooks === 'function') {
    registerHooks({
      load: (url, context, next) => {
        const result = next(url, context);
        recordUrl(url);
        return result;
      },
    });
    return 'hooks';
  }
  if (typeof nodeModule.register !== 'function') return 'off';
  const channel = new MessageChannel();
  port = channel.port1;
  port.on('message', (url: string | null) => {
    if (url === null) pendingSettle?.();
    else recordUrl(url);
  });
  port.unref();
  nodeModule.register(`data:text/javascript,${encodeURIComponent(THREAD_HOOKS)}`, {
    data: { port: channel.port2 },
    transferList: [channel.port2],
  });
  return 'loader thread';
}

/**
 * Waits until every file loaded so far is recorded (Node 20's loader thread tells them
 * asynchronously), and adds what `require()` loaded. Call once the factory has returned.
 */
export async function settleRecordedModules(): Promise<void> {
  if (port !== undefined) {
    const told = port;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, SETTLE_TIMEOUT_MS);
      pendingSettle = () => {
        clearTimeout(timer);
        resolve();
      };
      told.postMessage(null);
    });
    pendingSettle = undefined;
  }
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
