/**
 * Start-up faults of issue 19, point 7: an ipc socket path over the limit is refused before
 * anything is spawned; a daemon started after a crash says `restart`; a factory still running
 * at the start deadline is named in daemon.log and in the error; every exit a daemon can log is
 * logged, and the client that finds a dead daemon without one says so in daemon.log.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { closeRemote, localSingleton } from '../../dist/src/index.js';
import type { LoopbackSingletonError } from '../../dist/src/errors.js';
import { FIXTURES, freshRoot, SERVICES_URL, waitForExit } from '../support/daemon.js';
import { service } from '../support/clients.js';

const CRASHY = `${pathToFileURL(join(FIXTURES, 'crashy.mjs')).href}:Crashy`;
const HANGS = `${pathToFileURL(join(FIXTURES, 'hangs.mjs')).href}:never`;
type Crashy = { pid(): number; armThrow(ms: number): string; armExit(ms: number, code: number): string };

describe('start-up faults', () => {
  it('an ipc socket path over the system limit fails the first call with a clear error, before any daemon is spawned', async () => {
    // No daemon can exist there: nothing to shut down (the service helper's shutdown would refuse too).
    const svc = localSingleton('svc', `${SERVICES_URL}:Counter`, { transport: 'ipc', runtimeDir: join(freshRoot(), 'x'.repeat(120)) });
    const error = (await svc.proxy().catch((e: unknown) => e)) as LoopbackSingletonError;
    expect(error.code).toBe('ERR_LOOPBACK_SINGLETON');
    expect(error.message).toContain('runtimeDir');
    expect(existsSync(svc.paths.log)).toBe(false);
  });

  it('a daemon started again after a crash says startReason "restart"', async () => {
    const svc = service<Crashy>({}, CRASHY);
    const crashy = await svc.proxy();
    const first = await crashy.pid();
    expect((await svc.ping()).startReason).toBe('first');
    await crashy.armThrow(10);
    await waitForExit(first);
    // The proxy restarts it: the call that finds the daemon lost is refused, the next goes through.
    await crashy.pid().catch(() => undefined);
    const second = await crashy.pid();
    expect(second).not.toBe(first);
    expect((await svc.ping()).startReason).toBe('restart');
    await closeRemote(crashy);
  });

  it('a SIGKILLed daemon: the client that finds it dead logs that it recorded no exit, and starts a "restart"', async () => {
    const svc = service<Crashy>({}, CRASHY);
    const { pid } = await svc.ping();
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid);
    const info = await svc.ping();
    expect(info.pid).not.toBe(pid);
    expect(info.startReason).toBe('restart');
    expect(readFileSync(svc.paths.log, 'utf8')).toContain(`daemon pid ${pid} (instance `);
    expect(readFileSync(svc.paths.log, 'utf8')).toMatch(new RegExp(`daemon pid ${pid} \\(instance \\w+\\) was found dead; it recorded no exit: killed by SIGKILL`));
  });

  it('a daemon ended by process.exit() in the hosted code logs its exit code', async () => {
    const svc = service<Crashy>({}, CRASHY);
    const crashy = await svc.proxy();
    const pid = await crashy.pid();
    await crashy.armExit(10, 3);
    await waitForExit(pid);
    expect(readFileSync(svc.paths.log, 'utf8')).toContain(`[daemon ${pid}] exit 3 (process.exit() called`);
    await closeRemote(crashy);
  });

  it('a factory still running at startTimeoutMs: daemon.log names the step and how long; the error names the factory', async () => {
    const svc = service({ startTimeoutMs: 4000 }, HANGS);
    const error = (await svc.proxy().catch((e: unknown) => e)) as LoopbackSingletonError;
    expect(['ERR_FACTORY', 'ERR_CONNECTION_FAILED']).toContain(error.code);
    expect(error.message).toMatch(/factory/);
    expect(readFileSync(svc.paths.log, 'utf8')).toMatch(
      /failed \(ERR_FACTORY\) \d+ ms after its spawn: Error: The daemon did not finish creating the object \(the factory is hanging\)/,
    );
  });
});
