/**
 * Spawning a daemon process: `process.execPath` (never `node` from PATH), detached, its
 * stdout/stderr appended to daemon.log, and an IPC channel for its config. The process loads
 * the daemon's code at once and becomes a daemon only when its config comes
 * (src/daemon/main.ts): spawned by ./spawn.ts with the config at hand, or ahead of the
 * decision as a standby (./standby.ts). Loaded when the package is imported (a standby is
 * spawned before the rest of the client has loaded), so it imports nothing heavy.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync, renameSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DAEMON_LOG_MAX_BYTES } from '../runtime/paths.js';
import type { RuntimePaths } from '../types.js';

const DAEMON_ENTRY = fileURLToPath(new URL('../daemon/main.js', import.meta.url));

/** The Node flags (`--name` or `--name=value`) a daemon inherits from its spawner. */
const PASS_THROUGH = new RegExp(
  `^--(${[
    'import',
    'require',
    'loader',
    'experimental-loader',
    'conditions',
    'experimental-[\\w-]+',
    'no-experimental-[\\w-]+',
    'enable-source-maps',
    'no-warnings',
    'stack-size',
    'max-old-space-size',
    'preserve-symlinks[\\w-]*',
  ].join('|')})(=|$)`,
);

/**
 * Node flags the daemon inherits so it can import what the spawner can (loaders such as
 * tsx, conditions, experimental features); debugger and profiler flags are left out.
 */
export function inheritedExecArgv(execArgv: readonly string[] = process.execArgv): string[] {
  const withValue = new Set(['--import', '--require', '-r', '--loader', '--experimental-loader', '--conditions', '-C']);
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    if (withValue.has(arg) && i + 1 < execArgv.length) {
      out.push(arg, execArgv[++i]!);
    } else if (PASS_THROUGH.test(arg) || /^-C./.test(arg)) {
      out.push(arg);
    }
  }
  return out;
}

/**
 * Node flags for the daemon only, from env `LOOPBACK_SINGLETON_DAEMON_ARGS` (space-separated),
 * for debugging or profiling it: `--inspect=9230`, `--cpu-prof --cpu-prof-dir=/tmp/prof`.
 */
function extraDaemonArgs(): string[] {
  return (process.env.LOOPBACK_SINGLETON_DAEMON_ARGS ?? '').split(/\s+/).filter((arg) => arg.length > 0);
}

function rotateLog(path: string): void {
  try {
    if (statSync(path).size > DAEMON_LOG_MAX_BYTES) renameSync(path, `${path}.1`);
  } catch {
    // no log yet
  }
}

/** Where and how a daemon process is spawned: what {@link spawnDaemonProcess} needs. */
export interface DaemonProcessPlan {
  readonly paths: RuntimePaths;
  /** The `execArgv` option (part of the factory identity); absent: the spawner's own loader flags. */
  readonly execArgv: readonly string[] | undefined;
  /** How long the process waits for its config before it exits. */
  readonly waitMs: number;
}

/**
 * Spawns a daemon process that has not yet been told what to host: `process.execPath`,
 * detached, output on daemon.log, an IPC channel for the config. It loads the daemon's code
 * at once and becomes a daemon only once it gets its config (see src/daemon/main.ts).
 */
export function spawnDaemonProcess({ paths, execArgv, waitMs }: DaemonProcessPlan): ChildProcess {
  rotateLog(paths.log);
  const logFd = openSync(paths.log, 'a', 0o600);
  try {
    // The `execArgv` option, part of the factory identity, replaces the inherited flags.
    const flags = execArgv ?? inheritedExecArgv();
    return spawn(process.execPath, [...flags, ...extraDaemonArgs(), DAEMON_ENTRY, dirname(paths.dir), String(Math.max(1, Math.ceil(waitMs)))], {
      detached: true,
      stdio: ['ignore', logFd, logFd, 'ipc'],
      serialization: 'advanced',
      windowsHide: true,
    });
  } finally {
    closeSync(logFd);
  }
}
