/**
 * `loopback-singleton clean [<name>]`: removes the runtime directories whose daemon is
 * dead or absent. Never a live one: anything that might still be in use is kept, with the
 * reason why.
 */
import { closeSync, fstatSync, lstatSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { backupPathOf, readMetadata } from '../runtime/metadata.js';
import { runtimePaths } from '../runtime/paths.js';
import { isProcessAlive } from '../runtime/process.js';
import type { RuntimePaths } from '../types.js';
import type { CommandContext } from './types.js';
import { printJson } from './format.js';
import { isLockFresh, probe, singletonNames } from './probe.js';

/** Entries the library itself creates in a runtime dir; anything else makes a dir foreign. */
const RUNTIME_ENTRY = /^(?:metadata\.json|metadata\.backup\.json|token|spawn\.lock(?:\.reclaim)?|daemon\.log.*|d-[0-9a-f]+\.sock|.+\.tmp)$/;
/** How much of the end of daemon.log is read to find its last daemon. */
const LOG_TAIL_BYTES = 16 * 1024;

/** What clean did with one directory. */
export interface Verdict {
  readonly name: string;
  readonly dir: string;
  readonly removed: boolean;
  readonly reason: string;
}

/** The pid of the daemon that wrote the last line of daemon.log, if that line is not its exit and it still runs. */
export function runningLoggedDaemon(logPath: string): number | undefined {
  let tail: string;
  try {
    const fd = openSync(logPath, 'r');
    try {
      const size = fstatSync(fd).size;
      const buffer = Buffer.alloc(Math.min(size, LOG_TAIL_BYTES));
      readSync(fd, buffer, 0, buffer.length, size - buffer.length);
      tail = buffer.toString('utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  const lines = [...tail.matchAll(/\[daemon (\d+)\] (.*)/g)];
  const last = lines.at(-1);
  if (!last || last[2]!.startsWith('exit ')) return undefined;
  const pid = Number(last[1]);
  return isProcessAlive(pid) ? pid : undefined;
}

/** Why `paths.dir` must be kept before even asking a daemon, or undefined. */
function keepForm(paths: RuntimePaths): string | undefined {
  const stat = lstatSync(paths.dir);
  if (!stat.isDirectory()) return 'not a directory';
  const uid = typeof process.getuid === 'function' ? process.getuid() : undefined;
  if (uid !== undefined && stat.uid !== uid) return `owned by uid ${stat.uid}, not by you`;
  const foreign = readdirSync(paths.dir).filter((entry) => !RUNTIME_ENTRY.test(entry));
  if (foreign.length > 0) return `holds files that are not runtime files (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', ...' : ''})`;
  return undefined;
}

/** Decides about one directory and removes it when nothing in it can be alive. */
export async function cleanOne(root: string, name: string): Promise<Verdict> {
  const paths = runtimePaths(root, name);
  const verdict = (removed: boolean, reason: string): Verdict => ({ name, dir: paths.dir, removed, reason });
  const form = keepForm(paths);
  if (form) return verdict(false, form);
  const found = await probe(root, name);
  const pid = found.metadata?.pid;
  if (found.status === 'alive') return verdict(false, `its daemon (pid ${pid}) is alive`);
  if (found.startInProgress) return verdict(false, 'a start is in progress (spawn.lock is fresh)');
  if (found.status === 'unresponsive' || found.status === 'draining') return verdict(false, found.detail ?? `pid ${pid} runs`);
  if (pid !== undefined && isProcessAlive(pid)) return verdict(false, `pid ${pid} from metadata.json still runs`);
  const copy = readMetadata(backupPathOf(paths.metadata));
  if (copy.status === 'valid' && isProcessAlive(copy.metadata.pid)) return verdict(false, `pid ${copy.metadata.pid} from metadata.backup.json still runs`);
  const logged = runningLoggedDaemon(paths.log);
  if (logged !== undefined) return verdict(false, `its daemon (pid ${logged}, from daemon.log) still runs`);
  // Look once more right before removing: a start may have begun meanwhile.
  const now = readMetadata(paths.metadata);
  const changed = now.status === 'valid' ? now.metadata.instanceId !== found.metadata?.instanceId : now.status === 'absent' && found.metadata !== undefined;
  if (isLockFresh(paths) || changed) return verdict(false, 'a daemon is being started right now');
  rmSync(paths.dir, { recursive: true, force: true });
  return verdict(true, found.detail ?? 'no daemon');
}

/** Cleans `positionals[0]`, or every singleton dir under the root. */
export async function run({ root, values, positionals }: CommandContext): Promise<number> {
  const only = positionals[0];
  const names = only === undefined ? singletonNames(root) : lstatSync(runtimePaths(root, only).dir, { throwIfNoEntry: false }) ? [only] : [];
  const verdicts: Verdict[] = [];
  let failed = false;
  for (const name of names) {
    try {
      verdicts.push(await cleanOne(root, name));
    } catch (error) {
      failed = true;
      verdicts.push({ name, dir: runtimePaths(root, name).dir, removed: false, reason: `could not clean: ${(error as Error).message}` });
    }
  }
  if (values.json) {
    const pick = (removed: boolean) => verdicts.filter((v) => v.removed === removed).map(({ name, dir, reason }) => ({ name, dir, reason }));
    printJson({ root, removed: pick(true), kept: pick(false) });
  } else if (verdicts.length === 0) {
    process.stdout.write(only === undefined ? `nothing to clean under ${root}\n` : `nothing to clean: no runtime dir for "${only}" under ${root}\n`);
  } else {
    for (const v of verdicts) process.stdout.write(`${v.removed ? 'removed' : 'kept'} ${v.name}: ${v.reason}\n`);
  }
  return failed ? 1 : 0;
}
