/**
 * Where a singleton's runtime files live: the root resolution order the README gives (Runtime
 * files) and the rules for names. Pure path arithmetic, no I/O beyond checking whether
 * `$XDG_RUNTIME_DIR` is usable.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { LoopbackSingletonError } from '../errors.js';
import type { RuntimePaths } from '../types.js';

const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** daemon.log is rotated to daemon.log.1 past this: at a spawn, and while a daemon runs. */
export const DAEMON_LOG_MAX_BYTES = 1024 * 1024;

/** Why `name` is not a valid singleton name, or undefined when it is. */
export function invalidNameReason(name: unknown): string | undefined {
  if (typeof name !== 'string') return `expected a string, got ${typeof name}`;
  if (!NAME_PATTERN.test(name)) {
    return `expected 1-64 characters of [A-Za-z0-9._-], got ${JSON.stringify(name)}`;
  }
  if (name === '.' || name === '..') return `${JSON.stringify(name)} is not a directory name`;
  return undefined;
}

/** True when `dir` exists, is a directory and we may write to it. */
function isUsableDir(dir: string): boolean {
  try {
    if (!statSync(dir).isDirectory()) return false;
    accessSync(dir, constants.W_OK | constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The user's home directory, absolute: `$HOME` when it is an absolute path, else the
 * account's own (the password database), so an empty or relative `HOME` (`HOME=""` in a
 * service unit, `env -i`) never makes the root relative to the working directory, where
 * clients started in two directories would find two daemons.
 */
function absoluteHome(home: () => string, account: () => string): string | undefined {
  const fromEnv = home();
  if (isAbsolute(fromEnv)) return fromEnv;
  try {
    const fromAccount = account();
    return isAbsolute(fromAccount) ? fromAccount : undefined;
  } catch {
    return undefined; // a uid with no account entry (some containers)
  }
}

/**
 * The runtime root, in the README's order: `runtimeDir` option (a relative one is resolved
 * against the working directory, as any path option), env `LOOPBACK_SINGLETON_RUNTIME_DIR`
 * (must be absolute: an environment is inherited by processes in other directories),
 * `%LOCALAPPDATA%\loopback-singleton` (Windows), `$XDG_RUNTIME_DIR/loopback-singleton` when
 * absolute and usable, else `<home>/.cache/loopback-singleton`, with the home directory of
 * `$HOME` if absolute, else of the user's account. The root is always absolute.
 * @throws {LoopbackSingletonError} when the env names a relative root, or no absolute home
 *   directory is known and nothing else names a root.
 */
export function resolveRuntimeRoot(
  runtimeDir?: string,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home: () => string = homedir,
  account: () => string = () => userInfo().homedir,
): string {
  if (runtimeDir !== undefined) return resolve(runtimeDir);
  const fromEnv = env.LOOPBACK_SINGLETON_RUNTIME_DIR;
  if (fromEnv) {
    if (!isAbsolute(fromEnv)) {
      throw new LoopbackSingletonError(
        `LOOPBACK_SINGLETON_RUNTIME_DIR must be an absolute path, got ${JSON.stringify(fromEnv)}: ` +
          'a relative one would name another directory in every working directory (and start a second daemon there)',
      );
    }
    return resolve(fromEnv);
  }
  if (platform === 'win32' && env.LOCALAPPDATA && isAbsolute(env.LOCALAPPDATA)) return join(env.LOCALAPPDATA, 'loopback-singleton');
  const xdg = env.XDG_RUNTIME_DIR;
  if (xdg && isAbsolute(xdg) && isUsableDir(xdg)) return join(xdg, 'loopback-singleton');
  const userHome = absoluteHome(home, account);
  if (userHome === undefined) {
    throw new LoopbackSingletonError(
      `No absolute home directory to keep the runtime files in (HOME is ${JSON.stringify(home())}, and the account has none): ` +
        'set HOME, XDG_RUNTIME_DIR or LOOPBACK_SINGLETON_RUNTIME_DIR to an absolute path, or pass runtimeDir',
    );
  }
  return join(userHome, '.cache', 'loopback-singleton');
}

// sun_path is 108 bytes on Linux and 104 on macOS, NUL included.
const MAX_SOCKET_PATH = process.platform === 'darwin' ? 103 : 107;

/** Characters of a daemon's instanceId in its ipc socket's name. */
const SOCKET_ID_CHARS = 12;

/**
 * The Unix socket path an `ipc` daemon with `instanceId` binds in `dir` (its name is unique
 * to the instance: an old daemon closing its socket never removes a newer one's).
 */
export function unixSocketPath(dir: string, instanceId: string): string {
  return join(dir, `d-${instanceId.slice(0, SOCKET_ID_CHARS)}.sock`);
}

/**
 * Why an `ipc` daemon could not bind its socket in `dir` (the path would be over the system's
 * limit), or undefined when it can. Checked by the client before it spawns anything, and by
 * the daemon before it binds. Windows named pipes have no such limit.
 */
export function socketPathProblem(dir: string, platform: NodeJS.Platform = process.platform): string | undefined {
  if (platform === 'win32') return undefined;
  const path = unixSocketPath(dir, 'x'.repeat(SOCKET_ID_CHARS));
  const bytes = Buffer.byteLength(path);
  if (bytes <= MAX_SOCKET_PATH) return undefined;
  return (
    `The daemon's Unix socket path (${path.slice(0, -(SOCKET_ID_CHARS + 5))}<id>.sock) would be ${bytes} bytes, over the system limit of ${MAX_SOCKET_PATH}: ` +
    `set a shorter \`runtimeDir\` (or LOOPBACK_SINGLETON_RUNTIME_DIR), or use transport 'tcp'`
  );
}

/** The runtime files of singleton `name` under `root` (absolute). */
export function runtimePaths(root: string, name: string): RuntimePaths {
  const dir = join(root, name);
  return {
    dir,
    metadata: join(dir, 'metadata.json'),
    token: join(dir, 'token'),
    lock: join(dir, 'spawn.lock'),
    log: join(dir, 'daemon.log'),
  };
}
