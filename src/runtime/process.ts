/**
 * Whether a process is still running, and whether it is still the same process. `kill(pid, 0)`
 * alone also succeeds for a zombie: a daemon that has exited but whose parent (often init,
 * once its spawner is gone) has not reaped it yet. On Linux the process state in /proc tells
 * them apart, and the process's start time (with the boot it belongs to) tells a daemon from
 * a later process that was given the same pid.
 *
 * A failed read of /proc (EMFILE, ENFILE, ENOMEM...) is not a dead process: it throws
 * (./local-fault.ts), so a caller fails instead of cleaning up after a daemon that lives.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { localFaultError } from './local-fault.js';

/** What /proc says of a pid: its state letter and its start time in clock ticks since boot. */
interface ProcStat {
  readonly state: string;
  readonly startTicks: string;
}

/**
 * One read's room for a /proc entry read here: /proc/<pid>/stat is a few hundred bytes. One
 * `read` into it replaces readFileSync, which reads a /proc file (size 0) until a read returns
 * nothing: the kernel then formats the entry twice. 116 us -> 26 us a look on a lukewarm path,
 * and a client looks once per connect.
 */
const PROC_BUFFER = Buffer.allocUnsafe(4096);

/** Reads /proc; undefined when the entry is not there (the process is gone). */
function readProc(path: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const length = readSync(fd, PROC_BUFFER, 0, PROC_BUFFER.length, null);
    // Filled to the brim: longer than any entry read here should be, so read it whole.
    return length < PROC_BUFFER.length ? PROC_BUFFER.toString('latin1', 0, length) : readFileSync(path, 'latin1');
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    // ESRCH: the process exited while its file was being read.
    if (code === 'ENOENT' || code === 'ESRCH') return undefined;
    throw localFaultError(`read ${path}`, error);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** What /proc says of `pid`, or undefined when it is gone. @throws when /proc could not be read. */
function readProcStat(pid: number): ProcStat | undefined {
  const stat = readProc(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // The fields after the command name, which is in parentheses and may contain spaces: the
  // state is field 3 of proc(5), the start time field 22.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', startTicks: fields[19] ?? '' };
}

let bootId: string | undefined;

/** This boot's id: start times in ticks are counted from boot, so they need it to be unique. */
function currentBootId(): string {
  // Cached only once read: a failed read must not leave every start time unmatchable.
  bootId ??= (readProc('/proc/sys/kernel/random/boot_id') ?? '').trim();
  return bootId;
}

/**
 * The start time of `pid` as an opaque string (`<boot id>:<ticks since boot>` on Linux), or
 * undefined where the platform does not tell it cheaply (macOS, Windows) or the process is gone.
 * @throws {LoopbackSingletonError} when /proc could not be read (EMFILE...).
 */
export function processStartTime(pid: number): string | undefined {
  if (process.platform !== 'linux') return undefined;
  const stat = readProcStat(pid);
  return stat === undefined || stat.startTicks === '' ? undefined : `${currentBootId()}:${stat.startTicks}`;
}

/** True while `pid` runs (a zombie counts as exited). @throws as {@link isSameProcess}. */
export function isProcessAlive(pid: number): boolean {
  return isSameProcess(pid, undefined);
}

/**
 * True while `pid` runs and, when `startTime` is given (see {@link processStartTime}), is the
 * very process that had that start time: not a later one that reused the pid. A zombie counts
 * as exited.
 * @throws {LoopbackSingletonError} when /proc could not be read (EMFILE, ENFILE...): that
 *   says nothing about the process, and must not be taken for "gone".
 */
export function isSameProcess(pid: number, startTime: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    // EPERM: it exists, but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM' && startTime === undefined;
  }
  if (process.platform !== 'linux') return true;
  const stat = readProcStat(pid);
  // Gone between the two looks.
  if (stat === undefined) return false;
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return startTime === undefined || `${currentBootId()}:${stat.startTicks}` === startTime;
}
