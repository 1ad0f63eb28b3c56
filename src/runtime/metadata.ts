/**
 * `metadata.json`: who the live daemon is and where it listens. Written atomically (temp
 * file + rename), validated on read (anything malformed reads as stale), and deleted only
 * by compare-and-delete on `instanceId`.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import type { DaemonMetadata } from '../types.js';

/** The outcome of reading metadata: the record, or why there is none usable. */
export type MetadataRead =
  | { readonly status: 'valid'; readonly metadata: DaemonMetadata }
  | { readonly status: 'absent' }
  | { readonly status: 'malformed'; readonly reason: string };

/** Writes `metadata` to `path` atomically, mode 0600. */
export function writeMetadata(path: string, metadata: DaemonMetadata): void {
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    writeFileSync(temp, `${JSON.stringify(metadata, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    renameSync(temp, path);
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // the temp file was never created, or was already renamed
    }
    throw error;
  }
}

/** Reads and validates the metadata at `path`. Never throws for bad content. */
export function readMetadata(path: string): MetadataRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'absent' };
    return { status: 'malformed', reason: `unreadable: ${(error as Error).message}` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { status: 'malformed', reason: 'not valid JSON (truncated or corrupt)' };
  }
  const reason = invalidMetadataReason(value);
  return reason === undefined
    ? { status: 'valid', metadata: value as DaemonMetadata }
    : { status: 'malformed', reason };
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
  return undefined;
}

/**
 * Deletes the metadata at `path` only if it carries `instanceId`, so a draining daemon
 * never deletes the record of the daemon that replaced it. Returns whether it deleted.
 */
export function removeMetadataIf(path: string, instanceId: string): boolean {
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
