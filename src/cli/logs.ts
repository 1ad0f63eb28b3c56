/**
 * `loopback-singleton logs <name> [--follow]`: prints the daemon's log, daemon.log.1 (the
 * rotated, older part) first, then daemon.log. With --follow, keeps printing what is appended
 * until Ctrl-C, across both rotations (./../daemon/log.ts): a spawn renames daemon.log away
 * and starts a new file, a running daemon copies it to daemon.log.1 and truncates it in place.
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { runtimePaths } from '../runtime/paths.js';
import { CliFailure } from './args.js';
import type { CommandContext } from './types.js';

/** How often --follow looks for new lines. */
const FOLLOW_INTERVAL_MS = 200;
const CHUNK_BYTES = 64 * 1024;

/** Writes bytes `from`..end of the open file `fd` to stdout; returns the new position. */
function copyFrom(fd: number, from: number): number {
  const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  let at = from;
  for (;;) {
    const read = readSync(fd, buffer, 0, CHUNK_BYTES, at);
    if (read === 0) return at;
    process.stdout.write(Buffer.from(buffer.subarray(0, read)));
    at += read;
  }
}

/** Prints `path` from byte `from`, if it exists; returns where it ended (or `from`). */
function printFile(path: string, from = 0): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return from;
  }
  try {
    return copyFrom(fd, from);
  } finally {
    closeSync(fd);
  }
}

/** Prints the log of `positionals[0]`; with --follow, until Ctrl-C. */
export async function run({ root, values, positionals }: CommandContext): Promise<number> {
  const name = positionals[0]!;
  const paths = runtimePaths(root, name);
  if (!existsSync(paths.dir)) throw new CliFailure(`no singleton "${name}" under ${root} (no directory ${paths.dir})`);
  const rotated = `${paths.log}.1`;
  const hasLog = existsSync(paths.log);
  if (!values.follow && !hasLog && !existsSync(rotated)) throw new CliFailure(`singleton "${name}" has no daemon.log yet (${paths.log})`);
  printFile(rotated);
  if (!values.follow) {
    printFile(paths.log);
    return 0;
  }
  return follow(paths.log, rotated);
}

/** How many of the last bytes printed from daemon.log are kept, to tell a rewrite from an append. */
const TAIL_BYTES = 64;

/** The `length` bytes of `fd` that end at byte `end`. */
function bytesBefore(fd: number, end: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  const read = readSync(fd, buffer, 0, length, end - length);
  return buffer.subarray(0, read);
}

/**
 * Prints what follows byte `from` of `fd`, in reads that each start with the `tail` bytes
 * before it and go on only while those are unchanged: a rotation in place between a look's
 * stat and its read must not print the new file's bytes past the old offset. Where the file
 * was rewritten before anything was printed, undefined (the next look sees the rotation).
 */
function copyAfter(fd: number, from: number, tail: Buffer): { at: number; tail: Buffer } | undefined {
  const buffer = Buffer.allocUnsafe(TAIL_BYTES + CHUNK_BYTES);
  let at = from;
  let before = tail;
  for (;;) {
    const read = readSync(fd, buffer, 0, before.length + CHUNK_BYTES, at - before.length);
    if (read < before.length || !buffer.subarray(0, before.length).equals(before)) return at === from ? undefined : { at, tail: before };
    if (read === before.length) return { at, tail: before };
    process.stdout.write(Buffer.from(buffer.subarray(before.length, read)));
    at += read - before.length;
    before = Buffer.from(buffer.subarray(Math.max(0, read - TAIL_BYTES), read));
  }
}

/** Which file daemon.log.1 is now: a rotation replaces it. */
function identity(path: string): string | undefined {
  try {
    const stat = statSync(path);
    return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}`;
  } catch {
    return undefined;
  }
}

/** Prints daemon.log and what is appended to it until SIGINT or SIGTERM; resolves 0. */
function follow(log: string, rotated: string): Promise<number> {
  let fd: number | undefined;
  let at = 0;
  // The bytes just before `at`: a truncation followed by writes past `at` between two looks
  // leaves a file no shorter than `at`, but other bytes there.
  let tail: Buffer = Buffer.alloc(0);
  let rotatedAs = identity(rotated);
  const open = (): void => {
    try {
      fd = openSync(log, 'r');
      at = 0;
      tail = Buffer.alloc(0);
    } catch {
      fd = undefined; // not there yet: the next look tries again
    }
  };
  const look = (): void => {
    if (fd === undefined) open();
    if (fd === undefined) return;
    let named: ReturnType<typeof statSync> | undefined;
    try {
      named = statSync(log);
    } catch {
      named = undefined;
    }
    const own = fstatSync(fd);
    const rotatedNow = identity(rotated);
    if (named !== undefined && (named.ino !== own.ino || named.dev !== own.dev)) {
      // Renamed away by a spawn's rotation: finish the old file, then the new one from its start.
      copyFrom(fd, at);
      closeSync(fd);
      open();
      if (fd === undefined) return;
    } else if (rotatedNow !== rotatedAs || own.size < at || !bytesBefore(fd, at, tail.length).equals(tail)) {
      // Rotated in place by the daemon: copied whole to daemon.log.1, then truncated (and
      // perhaps written again past where this one stopped). What was written since the last
      // look is in daemon.log.1, past that point.
      if (rotatedNow !== rotatedAs) printFile(rotated, at);
      at = 0;
      tail = Buffer.alloc(0);
    }
    const copied = copyAfter(fd, at, tail);
    // Rewritten since the stat above: the next look handles the rotation, daemon.log.1 included.
    if (copied === undefined) return;
    rotatedAs = rotatedNow;
    ({ at, tail } = copied);
  };
  return new Promise<number>((resolve) => {
    look();
    const timer = setInterval(look, FOLLOW_INTERVAL_MS);
    const stop = (): void => {
      clearInterval(timer);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stdout.off('error', stop);
      if (fd !== undefined) closeSync(fd);
      resolve(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    // The reader went away (`| head`): nothing more to print to.
    process.stdout.once('error', stop);
  });
}
