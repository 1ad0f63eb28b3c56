/**
 * `service.shutdown()` (src/client/service.ts) on records of daemons that do not answer over
 * the protocol, in a fresh runtime dir this test writes: a dead pid's record (removed), a live
 * process its record cannot prove (left alone), a stand-in daemon process stopped by SIGTERM,
 * gracefully or with force. Shutdowns of a daemon that answers are ./client.test.ts's.
 */
import { fakeRecord } from '../support/records.js';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { localSingleton } from '../../src/client/service.js';
import { writeMetadata } from '../../src/runtime/metadata.js';
import { processStartTime } from '../../src/runtime/process.js';
import { makeRoot, removeRoot, SERVICES } from '../support/in-process.js';

let root: string;
const children: ChildProcess[] = [];
beforeEach(() => {
  root = makeRoot('lbs-shutdown-');
});
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  removeRoot(root);
});

const service = () => localSingleton<{ inc(): number }>('svc', `${SERVICES}:Counter`, { runtimeDir: root });

async function standIn(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', "console.log('up'); setTimeout(() => {}, 20000)"], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(child);
  await new Promise((resolve) => child.stdout!.once('data', resolve));
  return child;
}

function exitSignal(child: ChildProcess): Promise<NodeJS.Signals | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
}

/** Records `pid` as the daemon of `svc` at a port nothing listens on. */
function record(pid: number, startTime: string | undefined): string {
  const paths = service().paths;
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  writeMetadata(paths.metadata, fakeRecord(pid, { ...(startTime === undefined ? {} : { startTime }), instanceId: 'c'.repeat(32) }));
  return paths.metadata;
}

describe('service.shutdown() when the daemon does not answer', () => {
  it('options that are not an object are a TypeError', async () => {
    for (const bad of [null, 'force', 1]) {
      await expect(service().shutdown(bad as never)).rejects.toThrow(new TypeError('Expected shutdown options to be an object like { force: true }'));
    }
  });

  it('a dead pid’s record: removed as stale', async () => {
    const dead = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }));
    const path = record(dead, undefined);
    await service().shutdown();
    expect(existsSync(path)).toBe(false);
  });

  it('a live process its record cannot prove (no start time): neither signalled nor forgotten', async () => {
    const child = await standIn();
    const path = record(child.pid!, undefined);
    await service().shutdown({ force: true });
    await service().shutdown();
    expect(child.exitCode).toBeNull();
    expect(child.signalCode).toBeNull();
    expect(existsSync(path)).toBe(true);
  });

  it('a live daemon process that does not answer: SIGTERM, then waited for', async () => {
    const child = await standIn();
    record(child.pid!, processStartTime(child.pid!));
    await service().shutdown();
    expect(await exitSignal(child)).toBe('SIGTERM');
  });

  it('with force: SIGTERM, and the record it left behind removed', async () => {
    const child = await standIn();
    const path = record(child.pid!, processStartTime(child.pid!));
    await service().shutdown({ force: true });
    expect(await exitSignal(child)).toBe('SIGTERM');
    expect(existsSync(path)).toBe(false);
  });
});
