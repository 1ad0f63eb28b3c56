/**
 * Where the daemon finds the hosted object's constructor or factory, and the identity of
 * "this factory with these arguments". The module is resolved to an absolute URL here, in
 * the client, so the daemon never depends on its own cwd.
 */
import { createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { show, type ResolvedOptions } from '../options.js';
import { changedModules } from '../runtime/module-files.js';
import { loadOwnModule } from '../runtime/local-fault.js';
import type { FactoryIdentity } from '../types.js';

/** A factory reference as `localSingleton()` accepts it. */
export type FactoryReference = string | { readonly module: string | URL; readonly export?: string };

/** A parsed factory reference; `module` may still need package resolution. */
export interface ParsedFactory {
  /** An absolute URL, or a bare package specifier still to resolve. */
  readonly module: string;
  readonly export: string;
  readonly needsResolution: boolean;
}

const EXPORT_PATH = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/;
const URL_SCHEME = /^[A-Za-z][A-Za-z\d+.-]+:/;

function moduleToUrl(specifier: string, cwd: string): { module: string; needsResolution: boolean } {
  if (specifier.length === 0) throw new TypeError('The factory module is empty; pass a path, a file: URL or a package name');
  if (
    specifier.startsWith('./') ||
    specifier.startsWith('../') ||
    specifier === '.' ||
    specifier === '..' ||
    (process.platform === 'win32' && /^\.\.?\\/.test(specifier))
  ) {
    return { module: pathToFileURL(resolve(cwd, specifier)).href, needsResolution: false };
  }
  if (isAbsolute(specifier)) return { module: pathToFileURL(specifier).href, needsResolution: false };
  if (URL_SCHEME.test(specifier)) {
    try {
      return { module: new URL(specifier).href, needsResolution: specifier.startsWith('node:') };
    } catch {
      throw new TypeError(`The factory module ${JSON.stringify(specifier)} looks like a URL but is not a valid one`);
    }
  }
  return { module: specifier, needsResolution: true };
}

/**
 * Parses a factory reference. A string is split at the LAST `:` whose suffix is an export
 * path (`Counter`, `ns.Counter`); without one the whole string is the module and its
 * `default` export is used.
 * @throws {TypeError} saying what to pass instead.
 */
export function parseFactory(factory: FactoryReference, cwd: string = process.cwd()): ParsedFactory {
  if (typeof factory === 'string') {
    const colon = factory.lastIndexOf(':');
    const suffix = colon >= 0 ? factory.slice(colon + 1) : '';
    const hasExport = colon > 0 && EXPORT_PATH.test(suffix);
    const specifier = hasExport ? factory.slice(0, colon) : factory;
    return { ...moduleToUrl(specifier, cwd), export: hasExport ? suffix : 'default' };
  }
  if (typeof factory === 'object' && factory !== null) {
    const exportName = factory.export ?? 'default';
    if (typeof exportName !== 'string' || !EXPORT_PATH.test(exportName)) {
      throw new TypeError(`Expected \`factory.export\` to be an export name such as 'Counter' or 'ns.Counter', got ${show(exportName)}`);
    }
    if (factory.module instanceof URL) return { module: factory.module.href, export: exportName, needsResolution: false };
    if (typeof factory.module === 'string') return { ...moduleToUrl(factory.module, cwd), export: exportName };
    throw new TypeError(`Expected \`factory.module\` to be a path, a URL or a package name, got ${show(factory.module)}`);
  }
  throw new TypeError(`Expected \`factory\` to be "<module>:<export>" (e.g. './services.js:Counter') or { module, export }, got ${show(factory)}`);
}

/**
 * A deterministic text form of the factory arguments (object key order does not matter),
 * which also checks that they survive the trip to the daemon.
 * @throws {TypeError} naming the offending path, for values that would not arrive intact.
 */
export function canonicalArgs(value: unknown, path = 'args', seen = new Set<object>()): string {
  switch (typeof value) {
    case 'undefined':
      return 'u';
    case 'boolean':
      return value ? 't' : 'f';
    case 'number':
      // -0 arrives as 0 (MessagePack has no negative zero): the same argument.
      return Object.is(value, -0) ? 'n0' : `n${value}`;
    case 'bigint':
      if (value < -(2n ** 63n) || value >= 2n ** 64n) throw new TypeError(`\`${path}\` is a bigint outside the 64-bit range; pass it as a string`);
      return `b${value}`;
    case 'string':
      return JSON.stringify(value);
    case 'function':
    case 'symbol':
      throw new TypeError(`\`${path}\` is a ${typeof value}; factory arguments must be plain data (it is sent to the daemon)`);
  }
  if (value === null) return 'null';
  const object = value as object;
  if (seen.has(object)) throw new TypeError(`\`${path}\` is a circular reference; factory arguments must be plain data`);
  if (object instanceof Uint8Array) return `x${Buffer.from(object.buffer, object.byteOffset, object.byteLength).toString('hex')}`;
  if (object instanceof Date) return `d${object.getTime()}`;
  seen.add(object);
  try {
    // Array.from visits holes too: a hole arrives as undefined.
    if (Array.isArray(object)) return `[${Array.from(object, (item, i) => canonicalArgs(item, `${path}[${i}]`, seen)).join(',')}]`;
    const proto = Object.getPrototypeOf(object);
    if (proto !== Object.prototype && proto !== null) {
      const kind = (proto as { constructor?: { name?: string } })?.constructor?.name ?? 'class';
      throw new TypeError(
        `\`${path}\` is a ${kind} instance; factory arguments must be plain data (objects, arrays, strings, numbers, booleans, null, bigint, Date, Uint8Array)`,
      );
    }
    const keys = Object.keys(object).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalArgs((object as Record<string, unknown>)[key], `${path}.${key}`, seen)}`).join(',')}}`;
  } finally {
    seen.delete(object);
  }
}

function hash(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

/** A hash of canonical factory arguments. */
export function hashArgs(canonical: string): string {
  return hash(canonical);
}

/**
 * A hash of the factory module file's content (an edit makes a running daemon stale), or
 * undefined when the module is not a readable file (a `node:` or `data:` URL).
 */
export function hashModuleCode(moduleUrl: string): string | undefined {
  if (!moduleUrl.startsWith('file:')) return undefined;
  try {
    const path = fileURLToPath(moduleUrl);
    // Hashed once per file version: many singletons of one factory module (or one started
    // again) cost a stat each, not a read and a hash. An edit changes the stamp.
    const stats = statSync(path, { bigint: true });
    const stamp = `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
    const cached = codeHashes.get(path);
    if (cached?.stamp === stamp) return cached.hash;
    const fresh = hash(readFileSync(path));
    codeHashes.set(path, { stamp, hash: fresh });
    return fresh;
  } catch {
    return undefined;
  }
}

/** Code hashes by file path, with the stat stamp of the version they hash. */
const codeHashes = new Map<string, { readonly stamp: string; readonly hash: string }>();

/** How an env value is shown and compared: a short hash, so a secret is never stored or sent. */
function hashEnvValue(key: string, value: string | undefined): string {
  return value === undefined ? 'unset' : hash(`env\0${key}\0${value}`).slice(0, 12);
}

/**
 * The caller's setup that joins the factory identity: the `identity` option's env values
 * (hashed) and value (hashed), and the `execArgv` option.
 */
export function setupIdentity(
  options: Pick<ResolvedOptions, 'identity' | 'execArgv'>,
  env: NodeJS.ProcessEnv = process.env,
): Pick<FactoryIdentity, 'env' | 'valueHash' | 'execArgv'> {
  const { identity, execArgv } = options;
  return {
    ...(identity.env.length > 0 ? { env: Object.fromEntries(identity.env.map((key) => [key, hashEnvValue(key, env[key])])) } : {}),
    ...(identity.value === undefined ? {} : { valueHash: hash(`value\0${identity.value}`) }),
    ...(execArgv === undefined ? {} : { execArgv }),
  };
}

/** The setup part of the identity as one deterministic text. */
function canonicalSetup(identity: FactoryIdentity): string {
  const env =
    identity.env === undefined
      ? '-'
      : Object.keys(identity.env)
          .sort()
          .map((key) => `${JSON.stringify(key)}=${identity.env![key]}`)
          .join(',');
  const execArgv = identity.execArgv === undefined ? '-' : JSON.stringify(identity.execArgv);
  return `${env}\0${identity.valueHash ?? '-'}\0${execArgv}`;
}

/**
 * The factory identity: module URL, export path, arguments, module code, the setup the
 * `identity` and `execArgv` options name, and the package version of the client that starts
 * the daemon.
 */
export function computeFactoryId(identity: FactoryIdentity, packageVersion: string): string {
  return hash(`factory/3\0${identity.module}\0${identity.export}\0${identity.argsHash}\0${identity.codeHash ?? '-'}\0${canonicalSetup(identity)}\0${packageVersion}`);
}

function showFlags(execArgv: readonly string[] | undefined): string {
  return execArgv === undefined ? "the spawner's flags" : execArgv.length === 0 ? 'no flags' : JSON.stringify(execArgv);
}

/** Which `identity.env` variables differ, by name, with their hashes (never the values). */
function envDifferences(running: FactoryIdentity['env'], wanted: FactoryIdentity['env']): string[] {
  const differences: string[] = [];
  const keys = [...new Set([...Object.keys(running ?? {}), ...Object.keys(wanted ?? {})])].sort();
  for (const key of keys) {
    const theirs = running?.[key];
    const ours = wanted?.[key];
    if (theirs === ours) continue;
    if (theirs === undefined) differences.push(`its identity does not include env ${key}, this client's does`);
    else if (ours === undefined) differences.push(`its identity includes env ${key}, this client's does not`);
    else differences.push(`env ${key} differs (daemon ${theirs}, this client ${ours}: hashes of the values)`);
  }
  return differences;
}

/**
 * What differs between the factory a daemon runs and the one a client asks for, in words.
 */
export function describeMismatch(running: FactoryIdentity | undefined, runningVersion: string, wanted: FactoryIdentity, wantedVersion: string): string[] {
  if (running === undefined || typeof running !== 'object') return ['it does not say what it runs'];
  const differences: string[] = [];
  if (running.module !== wanted.module || running.export !== wanted.export) {
    differences.push(`it runs ${running.module}:${running.export}, not ${wanted.module}:${wanted.export}`);
  }
  if (running.argsHash !== wanted.argsHash) differences.push('it was started with other arguments');
  if (running.codeHash !== wanted.codeHash) differences.push("the factory module's code has changed since it started");
  differences.push(...envDifferences(running.env, wanted.env));
  if (running.valueHash !== wanted.valueHash) differences.push('it was started with another `identity.value`');
  if (JSON.stringify(running.execArgv) !== JSON.stringify(wanted.execArgv)) {
    differences.push(`it runs with ${showFlags(running.execArgv)}, this client asks for ${showFlags(wanted.execArgv)}`);
  }
  if (runningVersion !== wantedVersion) differences.push(`it runs loopback-singleton ${runningVersion}, this client is ${wantedVersion}`);
  return differences.length > 0 ? differences : ['its factory identity differs'];
}

/**
 * The local modules (recorded by the daemon, see ../daemon/module-recorder.ts) whose code
 * changed since the daemon loaded them, in words; empty when none did.
 */
export function describeChangedModules(recorded: unknown): string[] {
  const changed = changedModules(recorded);
  if (changed.length === 0) return [];
  const shown = changed.slice(0, 3).join(', ') + (changed.length > 3 ? ` and ${changed.length - 3} more` : '');
  return [`the code of ${changed.length === 1 ? 'a module' : 'modules'} its factory loaded has changed since it started (${shown})`];
}

/**
 * Resolves a bare package specifier the way `import` would from `cwd`, to an absolute URL.
 * @throws {TypeError} when the package cannot be found from `cwd`.
 */
export async function resolvePackage(specifier: string, cwd: string): Promise<string> {
  if (specifier.startsWith('node:')) return specifier;
  const { resolve: resolveImport } = await loadOwnModule('import-meta-resolve', () => import('import-meta-resolve'));
  try {
    return resolveImport(specifier, pathToFileURL(`${cwd}/`).href);
  } catch (error) {
    throw new TypeError(`Cannot resolve the factory module ${JSON.stringify(specifier)} from ${cwd}: ${(error as Error).message}`);
  }
}
