/**
 * The registry on the runtime files (src/registry/file.ts), on real temp dirs: what the local
 * client statechart's discovery, lock and recheck go through, and a daemon's publication.
 */
import type * as realFs from 'node:fs';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FileRegistry, WATCH_POLL_MS } from '../../src/registry/file.js';
import type { RecordRead } from '../../src/registry/registry.js';
import { backupPathOf, readMetadata, writeMetadata } from '../../src/runtime/metadata.js';
import { runtimePaths } from '../../src/runtime/paths.js';
import type { DaemonMetadata, RuntimePaths } from '../../src/types.js';

// Lets a test make the next open fail with an errno, which a real file cannot be made to do
// reliably (root reads mode 000 files).
const hooks = vi.hoisted(() => ({ openError: undefined as string | undefined }));
vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof realFs>();
  const openSync = ((...args: Parameters<typeof actual.openSync>) => {
    const code = hooks.openError;
    hooks.openError = undefined;
    if (code !== undefined) throw Object.assign(new Error(`${code}: simulated, open '${String(args[0])}'`), { code });
    return actual.openSync(...args);
  }) as typeof actual.openSync;
  return { ...actual, default: { ...actual, openSync }, openSync };
});

let temp: string;
let paths: RuntimePaths;

beforeEach(() => {
  temp = mkdtempSync(join(tmpdir(), 'lbs-fsreg-'));
  paths = runtimePaths(temp, 'svc');
  mkdirSync(paths.dir, { mode: 0o700 });
});

afterEach(() => {
  hooks.openError = undefined;
  rmSync(temp, { recursive: true, force: true });
});

/** A record of a daemon `instanceId` (its pid is ours: the registry never looks at it). */
function record(instanceId: string): DaemonMetadata {
  return {
    pid: process.pid,
    instanceId,
    transport: 'tcp',
    host: '127.0.0.1',
    port: 45678,
    protocolVersion: 1,
    packageVersion: '0.1.0',
    factoryId: 'file:///srv/services.js#Counter:[]',
    startedAt: 1_700_000_000_000,
  };
}

/** Whether `promise` rejects with `signal`'s timeout, i.e. was still waiting when it fired. */
async function stillWaiting(promise: Promise<unknown>): Promise<boolean> {
  try {
    await promise;
    return false;
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') return true;
    throw error;
  }
}

describe('FileRegistry.discover', () => {
  it('reads no record as absent, and where says which file it reads', async () => {
    const files = new FileRegistry(paths);
    expect(files.where).toBe(paths.metadata);
    expect(await files.discover()).toEqual({ status: 'absent' });
  });

  it('reads a valid record with no fencing token (the file system keeps no order)', async () => {
    writeMetadata(paths.metadata, record('a'));
    expect(await new FileRegistry(paths).discover()).toEqual({ status: 'valid', record: record('a'), fencingToken: undefined });
  });

  it('reads a damaged record as malformed, with the reason', async () => {
    writeFileSync(paths.metadata, '{"pid": 12', { mode: 0o600 });
    expect(await new FileRegistry(paths).discover()).toEqual({ status: 'malformed', reason: 'not valid JSON (truncated or corrupt)' });
  });

  it('reads a failed read as unreadable with its errno, never as absent or malformed, and leaves the record alone', async () => {
    writeMetadata(paths.metadata, record('a'));
    const files = new FileRegistry(paths);
    hooks.openError = 'EMFILE';
    const read = await files.discover();
    expect(read).toMatchObject({ status: 'unreadable', error: { code: 'EMFILE' } });
    expect(read.status === 'unreadable' && read.reason).toMatch(/EMFILE/);
    // Evidence of nothing: the record is still there, and read whole next time.
    expect(await files.discover()).toEqual({ status: 'valid', record: record('a'), fencingToken: undefined });
  });

  it('does no I/O when made: a registry on a directory that does not exist reads absent', async () => {
    const files = new FileRegistry(runtimePaths(join(temp, 'nowhere'), 'svc'));
    expect(existsSync(join(temp, 'nowhere'))).toBe(false);
    expect(await files.discover()).toEqual({ status: 'absent' });
  });
});

describe('FileRegistry.acquireStartRight', () => {
  it('is exclusive: a second acquirer waits until the first releases, then gets it', async () => {
    const first = new FileRegistry(paths);
    const second = new FileRegistry(paths);
    const right = await first.acquireStartRight(undefined, AbortSignal.timeout(10_000));
    expect(right).toBeDefined();
    expect(right!.lost).toBeUndefined();
    expect(existsSync(paths.lock)).toBe(true);
    expect(await stillWaiting(second.acquireStartRight(undefined, AbortSignal.timeout(300)))).toBe(true);
    await right!.release();
    await right!.release(); // idempotent
    expect(existsSync(paths.lock)).toBe(false);
    const next = await second.acquireStartRight(undefined, AbortSignal.timeout(10_000));
    expect(next).toBeDefined();
    await next!.release();
    expect(existsSync(paths.lock)).toBe(false);
  });

  it('gives up (undefined) when a valid record other than the stale one appears; the stale one, or a damaged one, does not end the wait', async () => {
    const holder = await new FileRegistry(paths).acquireStartRight(undefined, AbortSignal.timeout(10_000));
    const waiter = new FileRegistry(paths);
    writeMetadata(paths.metadata, record('stale'));
    expect(await stillWaiting(waiter.acquireStartRight('stale', AbortSignal.timeout(300)))).toBe(true);
    writeFileSync(paths.metadata, 'not json', { mode: 0o600 });
    expect(await stillWaiting(waiter.acquireStartRight('stale', AbortSignal.timeout(300)))).toBe(true);

    const waiting = waiter.acquireStartRight('stale', AbortSignal.timeout(10_000));
    writeMetadata(paths.metadata, record('newer'));
    expect(await waiting).toBeUndefined();
    // The holder still holds it: giving up took nothing from it.
    expect(existsSync(paths.lock)).toBe(true);
    await holder!.release();
  });

  it('rejects with the signal reason when aborted, and leaves no lock behind', async () => {
    const controller = new AbortController();
    controller.abort(new Error('budget spent'));
    await expect(new FileRegistry(paths).acquireStartRight(undefined, controller.signal)).rejects.toThrow('budget spent');
    expect(existsSync(paths.lock)).toBe(false);
  });
});

describe('FileRegistry.publish', () => {
  it('writes the record and its copy; the publication is held until unpublished, which removes both', async () => {
    const files = new FileRegistry(paths);
    const lost = vi.fn();
    const publication = await files.publish(record('a'));
    const unsubscribe = publication.onLost(lost);
    expect(publication.record).toEqual(record('a'));
    expect(publication.fencingToken).toBe(0n);
    expect(publication.isHeld()).toBe(true);
    expect(publication.holdsLeaseUntil()).toBe(Number.POSITIVE_INFINITY);
    expect(readMetadata(paths.metadata)).toEqual({ status: 'valid', metadata: record('a') });
    expect(readMetadata(backupPathOf(paths.metadata))).toEqual({ status: 'valid', metadata: record('a') });

    await publication.unpublish();
    await publication.unpublish(); // idempotent
    unsubscribe();
    expect(publication.isHeld()).toBe(false);
    expect(publication.holdsLeaseUntil()).toBe(Number.NEGATIVE_INFINITY);
    expect(existsSync(paths.metadata)).toBe(false);
    expect(existsSync(backupPathOf(paths.metadata))).toBe(false);
    expect(lost).not.toHaveBeenCalled();
  });

  it('unpublish is compare-and-delete: a newer record that replaced it stays', async () => {
    const publication = await new FileRegistry(paths).publish(record('old'));
    writeMetadata(paths.metadata, record('new'));
    await publication.unpublish();
    expect(readMetadata(paths.metadata)).toEqual({ status: 'valid', metadata: record('new') });
    expect(readMetadata(backupPathOf(paths.metadata))).toEqual({ status: 'valid', metadata: record('new') });
  });

  it('writes nothing when the signal has already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('boot budget spent'));
    await expect(new FileRegistry(paths).publish(record('a'), controller.signal)).rejects.toThrow('boot budget spent');
    expect(existsSync(paths.metadata)).toBe(false);
  });

  it('leaves no record naming it when the write fails (here: the runtime directory is gone)', async () => {
    rmSync(paths.dir, { recursive: true });
    await expect(new FileRegistry(paths).publish(record('a'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(existsSync(paths.metadata)).toBe(false);
  });
});

describe('FileRegistry.watch and close', () => {
  it('tells the record now, then each change (published, marked draining, removed), not repeats', async () => {
    const files = new FileRegistry(paths);
    const seen: RecordRead<DaemonMetadata>[] = [];
    const watch = await files.watch((read) => seen.push(read));
    expect(seen).toEqual([{ status: 'absent' }]);
    writeMetadata(paths.metadata, record('a'));
    await vi.waitFor(() => expect(seen).toHaveLength(2), { timeout: 5000, interval: WATCH_POLL_MS });
    // The same record written again is no change.
    writeMetadata(paths.metadata, record('a'));
    writeMetadata(paths.metadata, { ...record('a'), draining: true });
    await vi.waitFor(() => expect(seen).toHaveLength(3), { timeout: 5000, interval: WATCH_POLL_MS });
    rmSync(paths.metadata);
    await vi.waitFor(() => expect(seen).toHaveLength(4), { timeout: 5000, interval: WATCH_POLL_MS });
    expect(seen.map((read) => (read.status === 'valid' ? `${read.record.instanceId}${read.record.draining ? ' draining' : ''}` : read.status))).toEqual([
      'absent',
      'a',
      'a draining',
      'absent',
    ]);
    await watch.close();
    await watch.close(); // idempotent
  });

  it('a closed watch tells nothing more; close() closes every watch and unpublishes what it holds, and is idempotent', async () => {
    const files = new FileRegistry(paths);
    const seen: string[] = [];
    const closedOne = await files.watch((read) => seen.push(`closed ${read.status}`));
    await closedOne.close();
    const open = await files.watch((read) => seen.push(`open ${read.status}`));
    const publication = await files.publish(record('a'));
    await vi.waitFor(() => expect(seen).toContain('open valid'), { timeout: 5000, interval: WATCH_POLL_MS });
    await files.close();
    await files.close();
    expect(publication.isHeld()).toBe(false);
    expect(existsSync(paths.metadata)).toBe(false);
    // Another record now: no watch of this registry tells it.
    writeMetadata(paths.metadata, record('b'));
    // Several polls' worth: a closed watch's timer is cleared, so none of them tells it.
    await new Promise((resolve) => setTimeout(resolve, 4 * WATCH_POLL_MS));
    expect(seen).toEqual(['closed absent', 'open absent', 'open valid']);
    await open.close();
  });

  it('a listener that throws does not end its watch', async () => {
    const files = new FileRegistry(paths);
    const seen: string[] = [];
    const watch = await files.watch((read) => {
      seen.push(read.status);
      throw new Error('a listener bug');
    });
    writeMetadata(paths.metadata, record('a'));
    await vi.waitFor(() => expect(seen).toEqual(['absent', 'valid']), { timeout: 5000, interval: WATCH_POLL_MS });
    await watch.close();
  });
});
