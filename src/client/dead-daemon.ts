/**
 * What a client writes to a singleton's daemon.log when it is the one that finds a recorded
 * daemon dead (under the spawn lock, before it cleans the record): the daemon's own lines end
 * with its exit when it could log one (src/daemon/main.ts), so a dead daemon without an exit
 * line was killed by a signal it cannot catch (SIGKILL, the OOM killer) or the machine
 * restarted. Also what a spawner that gave up on a starting daemon says there.
 */
import { appendFileSync } from 'node:fs';
import { backupPathOf, readMetadata } from '../runtime/metadata.js';
import { isSameProcess } from '../runtime/process.js';
import type { DaemonMetadata, RuntimePaths } from '../types.js';
import { logTail } from './spawn.js';

/** How much of daemon.log's end is searched for the dead daemon's exit line. */
const EXIT_SEARCH_BYTES = 64 * 1024;

/** Appends one line to daemon.log as this client; never throws (a log must not fail a start). */
export function logAsClient(paths: RuntimePaths, line: string): void {
  try {
    appendFileSync(paths.log, `${new Date().toISOString()} [client ${process.pid}] ${line}\n`, { mode: 0o600 });
  } catch {
    // no log to write to: the start goes on
  }
}

/**
 * Records dead daemons found in `metadata.json`, its copy or `stale` (the record the attempt
 * judged stale) in daemon.log, one line each. Returns whether there was one: the daemon
 * started next is then a restart.
 */
export function noteDeadDaemons(paths: RuntimePaths, stale: DaemonMetadata | undefined): boolean {
  const records = new Map<string, DaemonMetadata>();
  if (stale) records.set(stale.instanceId, stale);
  for (const path of [paths.metadata, backupPathOf(paths.metadata)]) {
    const read = readMetadata(path);
    if (read.status === 'valid') records.set(read.metadata.instanceId, read.metadata);
  }
  let found = false;
  for (const record of records.values()) {
    if (isSameProcess(record.pid, record.startTime)) continue;
    found = true;
    const tail = logTail(paths.log, EXIT_SEARCH_BYTES);
    const exited = tail.includes(`[daemon ${record.pid}] exit`);
    logAsClient(
      paths,
      `daemon pid ${record.pid} (instance ${record.instanceId}) was found dead; ` +
        (exited ? 'its exit is logged above; cleaning its record' : 'it recorded no exit: killed by SIGKILL or the machine restarted'),
    );
  }
  return found;
}
