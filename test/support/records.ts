/**
 * A daemon record for tests that write runtime files by hand (metadata.json of a daemon the
 * test stands in for): valid, tcp on 127.0.0.1:1, with what `extra` changes.
 */
import type { DaemonMetadata } from '../../src/types.js';

/** A valid tcp record of process `pid`; `extra` overrides (or removes, with `undefined`) its fields. */
export function fakeRecord(pid: number, extra: Partial<DaemonMetadata> = {}): DaemonMetadata {
  return {
    pid,
    instanceId: 'a'.repeat(32),
    transport: 'tcp',
    host: '127.0.0.1',
    port: 1,
    protocolVersion: 1,
    packageVersion: '0.0.1',
    factoryId: 'f'.repeat(32),
    startedAt: 1,
    ...extra,
  } as DaemonMetadata;
}
