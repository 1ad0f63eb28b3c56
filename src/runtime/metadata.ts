/**
 * `metadata.json`: who the live daemon is and where it listens. Written atomically (temp
 * file + rename), read safely (./private-file.ts: no FIFO, symlink or device is followed or
 * waited on, nothing over {@link MAX_METADATA_BYTES} is read), validated on read (anything
 * malformed reads as stale), and deleted only by compare-and-delete on `instanceId`.
 *
 * Only a record read whole and found invalid is `malformed`. A read that fails (EMFILE,
 * EACCES, EIO...) is `unreadable`: it says nothing about the record, and nobody may clean up
 * or mend on it (see ./local-fault.ts).
 */
import { unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DaemonMetadata } from '../types.js';
import { readSmallFile, replacePrivateFile, type FileStamp } from './private-file.js';

/**
 * The largest metadata.json read. The record is ~300 bytes (its longest field, an ipc socket
 * path, is at most 107 bytes); 16 KiB leaves ample room for fields to come, while a file
 * padded to megabytes (or /dev/zero behind a symlink) is refused before a byte is read.
 */
export const MAX_METADATA_BYTES = 16 * 1024;

/** The outcome of reading metadata: the record, or why there is none usable. */
export type MetadataRead =
  | { readonly status: 'valid'; readonly metadata: DaemonMetadata }
  | { readonly status: 'absent' }
  | { readonly status: 'malformed'; readonly reason: string }
  /** The read itself failed (`code`: EMFILE, EACCES, EIO...): not evidence of anything. */
  | { readonly status: 'unreadable'; readonly reason: string; readonly code: string | undefined; readonly error: Error };

/**
 * Where the record's copy lives beside the metadata.json at `path`. Clients read it only under
 * the spawn lock, when metadata.json is damaged or missing: a record damaged while its daemon
 * cannot mend it (a method busy on the CPU, a stopped process) must not pass for no daemon.
 */
export function backupPathOf(path: string): string {
  return join(dirname(path), 'metadata.backup.json');
}

/**
 * Writes `metadata` to `path`, then its copy ({@link backupPathOf}), each atomically, mode
 * 0600; no temp file is left if it fails.
 */
export function writeMetadata(path: string, metadata: DaemonMetadata): void {
  const text = `${JSON.stringify(metadata, null, 2)}\n`;
  replacePrivateFile(path, text);
  replacePrivateFile(backupPathOf(path), text);
}

/**
 * Reads and validates the metadata at `path`. Never throws and never blocks: a FIFO, a
 * symlink, a directory, a device or a file over {@link MAX_METADATA_BYTES} reads as
 * malformed with the reason; a read that fails (EACCES, EMFILE, EIO) as unreadable, with
 * its errno.
 */
export function readMetadata(path: string): MetadataRead {
  return readMetadataFile(path).read;
}

/**
 * {@link readMetadata}, with the stamp of the file that was read when it was a regular file
 * (for a daemon that re-reads its record only when the stamp changed).
 */
export function readMetadataFile(path: string): { readonly read: MetadataRead; readonly stamp?: FileStamp } {
  const file = readSmallFile(path, MAX_METADATA_BYTES);
  switch (file.status) {
    case 'absent':
      return { read: { status: 'absent' } };
    case 'notRegular':
    case 'tooLarge':
      return { read: { status: 'malformed', reason: file.reason } };
    case 'unreadable':
      return { read: { status: 'unreadable', reason: `unreadable: ${file.error.message}`, code: file.error.code, error: file.error } };
    case 'read':
      return { read: parseMetadata(file.bytes.toString('utf8')), stamp: file.stamp };
  }
}

function parseMetadata(text: string): MetadataRead {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { status: 'malformed', reason: 'not valid JSON (truncated or corrupt)' };
  }
  const reason = invalidMetadataReason(value);
  return reason === undefined ? { status: 'valid', metadata: value as DaemonMetadata } : { status: 'malformed', reason };
}

/** Why `value` is not valid metadata, or undefined when it is. */
export function invalidMetadataReason(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const m = value as Record<string, unknown>;
  if (!Number.isSafeInteger(m.pid) || (m.pid as number) <= 0) return '`pid` is not a positive integer';
  if (typeof m.instanceId !== 'string' || m.instanceId.length === 0) return '`instanceId` is missing';
  if (m.transport === 'tcp') {
    if (m.host !== '127.0.0.1') return '`host` is not 127.0.0.1';
    if (!Number.isSafeInteger(m.port) || (m.port as number) < 1 || (m.port as number) > 65535) {
      return '`port` is not a TCP port';
    }
  } else if (m.transport === 'ipc') {
    if (typeof m.path !== 'string' || m.path.length === 0) return '`path` is missing';
  } else {
    return '`transport` is neither "tcp" nor "ipc"';
  }
  if (!Number.isSafeInteger(m.protocolVersion)) return '`protocolVersion` is not an integer';
  if (typeof m.packageVersion !== 'string') return '`packageVersion` is missing';
  if (typeof m.factoryId !== 'string') return '`factoryId` is missing';
  if (typeof m.startedAt !== 'number' || !Number.isFinite(m.startedAt)) return '`startedAt` is not a number';
  if (m.startTime !== undefined && (typeof m.startTime !== 'string' || m.startTime.length === 0 || m.startTime.length > 128)) {
    return '`startTime` is not a process start time';
  }
  if (m.draining !== undefined && m.draining !== true) return '`draining` is not true';
  if (m.drainingSince !== undefined && (typeof m.drainingSince !== 'number' || !Number.isFinite(m.drainingSince))) return '`drainingSince` is not a number';
  return undefined;
}

/**
 * Deletes the metadata at `path`, and its copy, each only if it carries `instanceId`, so a
 * draining daemon never deletes the record of the daemon that replaced it. Returns whether it
 * deleted metadata.json.
 */
export function removeMetadataIf(path: string, instanceId: string): boolean {
  removeRecordIf(backupPathOf(path), instanceId);
  return removeRecordIf(path, instanceId);
}

function removeRecordIf(path: string, instanceId: string): boolean {
  const read = readMetadata(path);
  if (read.status !== 'valid' || read.metadata.instanceId !== instanceId) return false;
  try {
    unlinkSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

/** The address a person or a socket API understands for `metadata`. */
export function formatAddress(metadata: Pick<DaemonMetadata, 'transport' | 'host' | 'port' | 'path'>): string {
  return metadata.transport === 'tcp' ? `${metadata.host}:${metadata.port}` : String(metadata.path);
}
