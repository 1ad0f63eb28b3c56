/**
 * What a cluster daemon publishes in the registry, and how it is read back: the address the
 * other machines reach it at, who it is (instance id, pid, machine), what it hosts (factory
 * id) and what it speaks (versions). JSON, like metadata.json, so that `etcdctl get` shows a
 * person what runs where. A record read whole and found invalid is `malformed`; it never
 * passes for a daemon.
 */

/** A cluster daemon's record. */
export interface ClusterRecord {
  /** Random per daemon process; only this daemon's publication may remove its record. */
  readonly instanceId: string;
  /** The host the daemon listens on, as the other machines reach it (an address or a name). */
  readonly host: string;
  readonly port: number;
  readonly factoryId: string;
  readonly protocolVersion: number;
  readonly packageVersion: string;
  /** The daemon's pid on its machine: for a person, never checked from another machine. */
  readonly pid: number;
  /** The daemon's machine (`os.hostname()`), for a person. */
  readonly machine: string;
  /** Epoch ms. */
  readonly startedAt: number;
}

/** The largest record read: a record is ~300 bytes; anything far larger is not ours. */
export const MAX_RECORD_BYTES = 16 * 1024;

/** Why `value` is not a valid cluster record, or undefined when it is. */
export function invalidRecordReason(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const r = value as Record<string, unknown>;
  if (typeof r.instanceId !== 'string' || r.instanceId.length === 0 || r.instanceId.length > 128) return '`instanceId` is missing';
  if (typeof r.host !== 'string' || r.host.length === 0 || r.host.length > 253) return '`host` is missing';
  if (!Number.isSafeInteger(r.port) || (r.port as number) < 1 || (r.port as number) > 65535) return '`port` is not a TCP port';
  if (typeof r.factoryId !== 'string' || r.factoryId.length === 0) return '`factoryId` is missing';
  if (!Number.isSafeInteger(r.protocolVersion)) return '`protocolVersion` is not an integer';
  if (typeof r.packageVersion !== 'string') return '`packageVersion` is missing';
  if (!Number.isSafeInteger(r.pid) || (r.pid as number) <= 0) return '`pid` is not a positive integer';
  if (typeof r.machine !== 'string') return '`machine` is missing';
  if (typeof r.startedAt !== 'number' || !Number.isFinite(r.startedAt)) return '`startedAt` is not a number';
  return undefined;
}

/** The record as stored: JSON text. @throws {TypeError} for a record that would not read back as valid. */
export function encodeRecord(record: ClusterRecord): string {
  const reason = invalidRecordReason(record);
  if (reason !== undefined) throw new TypeError(`Not a valid cluster record: ${reason}`);
  return JSON.stringify(record);
}

/** A stored record read back: the record, or why it is not one. */
export type DecodedRecord = { readonly status: 'valid'; readonly record: ClusterRecord } | { readonly status: 'malformed'; readonly reason: string };

/** Decodes a stored record; never throws. */
export function decodeRecord(bytes: Uint8Array): DecodedRecord {
  if (bytes.length > MAX_RECORD_BYTES) return { status: 'malformed', reason: `it is ${bytes.length} bytes, over ${MAX_RECORD_BYTES}` };
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return { status: 'malformed', reason: 'not valid JSON' };
  }
  const reason = invalidRecordReason(value);
  return reason === undefined ? { status: 'valid', record: value as ClusterRecord } : { status: 'malformed', reason };
}
