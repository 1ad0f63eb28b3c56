import { existsSync, lstatSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Connection } from '../../dist/src/client/connection.js';
import { DaemonConnectionError, LoopbackSingletonError } from '../../dist/src/errors.js';
import { readMetadata } from '../../dist/src/runtime/metadata.js';
import { daemonConfig, freshRuntime, isAlive, MAX_FRAME, rawHandshake, RawPeer, spawnDaemon, startDaemon, waitForExit } from '../support/daemon.js';
import { sleep } from '../support/wait.js';

/**
 * The spawner's start budget these daemons keep to before they may idle out
 * (src/daemon/budget.ts): on a loaded machine the test reads, or connects to, a daemon with a
 * 200-300 ms idle TTL later than that TTL, and would find it gone.
 */
const FIRST_CLIENT_WITHIN_MS = 1500;

describe('daemon lifecycle', () => {
  it('publishes valid metadata, and a daemon nobody connects to exits after its TTL and unpublishes', async () => {
    const daemon = await startDaemon({ firstClientWithinMs: FIRST_CLIENT_WITHIN_MS, idleTtlMs: 300 });
    const read = readMetadata(daemon.paths.metadata);
    expect(read.status).toBe('valid');
    expect(read.status === 'valid' && read.metadata).toMatchObject({ pid: daemon.pid, transport: 'tcp', host: '127.0.0.1' });
    expect(lstatSync(daemon.paths.metadata).mode & 0o777).toBe(0o600);
    await waitForExit(daemon.pid);
    expect(existsSync(daemon.paths.metadata)).toBe(false);
    const log = readFileSync(daemon.paths.log, 'utf8');
    // The drain's first step a graceful drain waits in (machines/daemon.machine.ts).
    expect(log).toContain('state {"draining":"answering"} <- xstate.after.idleTtl');
    expect(log).toContain('exit 0 (stopped)');
  });

  it('an open authenticated connection keeps the daemon alive; closing it starts the countdown', async () => {
    const daemon = await startDaemon({ firstClientWithinMs: FIRST_CLIENT_WITHIN_MS, idleTtlMs: 200 });
    const connection = await daemon.connect();
    // Past the spawner's budget and the idle TTL both: only the connection keeps it alive now.
    await sleep(FIRST_CLIENT_WITHIN_MS + 600);
    expect(isAlive(daemon.pid)).toBe(true);
    expect((await connection.ping()).state).toEqual({ serving: 'busy' });
    connection.close();
    await waitForExit(daemon.pid);
  });

  it('an observer connection (monitoring) is not counted and does not keep the daemon alive', async () => {
    const daemon = await startDaemon({ firstClientWithinMs: FIRST_CLIENT_WITHIN_MS, idleTtlMs: 300 });
    const observer = await Connection.open(daemon.metadata, { token: daemon.token, maxFrameBytes: MAX_FRAME, timeoutMs: 5000, observe: true });
    const info = await observer.ping();
    expect(info.active).toBe(0);
    expect(info.state).toEqual({ serving: 'idle' });
    await waitForExit(daemon.pid);
    observer.close();
  });

  it('a silent unauthenticated peer does not keep the daemon alive', async () => {
    const daemon = await startDaemon({ idleTtlMs: 300, handshakeTimeoutMs: 60_000 });
    const peer = await RawPeer.open(daemon.metadata);
    await waitForExit(daemon.pid);
    await peer.closed;
  });

  it('an authenticated peer stuck on a partial frame is dropped, and the daemon then idles out', async () => {
    const daemon = await startDaemon({ firstClientWithinMs: FIRST_CLIENT_WITHIN_MS, idleTtlMs: 300, stallTimeoutMs: 300 });
    const peer = await RawPeer.open(daemon.metadata);
    await rawHandshake(peer, daemon.token);
    // A header announcing 100 bytes, then only 10 of them, then silence.
    const partial = Buffer.alloc(14);
    partial.writeUInt32BE(100, 0);
    peer.write(partial);
    await peer.closed;
    await waitForExit(daemon.pid);
    expect(readFileSync(daemon.paths.log, 'utf8')).toContain('partial frame stalled');
  });

  it('graceful shutdown answers every accepted call in order, refuses later ones, and exits', async () => {
    const daemon = await startDaemon();
    const caller = await daemon.connect();
    const accepted = Array.from({ length: 20 }, (_, i) => caller.call('hold', [10, i]));
    const admin = await daemon.connect();
    await admin.ping(); // the 20 calls were written before this ping, so they are all queued
    await admin.shutdown(false);
    const late = await caller.call('inc', []).catch((e: unknown) => e);
    expect(await Promise.all(accepted)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(late).toBeInstanceOf(DaemonConnectionError);
    expect((late as DaemonConnectionError).code).toBe('ERR_DAEMON_DRAINING');
    await waitForExit(daemon.pid);
    expect(existsSync(daemon.paths.metadata)).toBe(false);
    expect(readFileSync(daemon.paths.log, 'utf8')).toContain('exit 0 (stopped)');
  });

  it('forced shutdown rejects the queued calls without running them', async () => {
    const daemon = await startDaemon();
    const caller = await daemon.connect();
    const running = caller.call('hold', [400, 'running']).catch((e: unknown) => e);
    const queued = Array.from({ length: 5 }, () => caller.call('inc', []).catch((e: unknown) => e));
    const admin = await daemon.connect();
    await admin.ping();
    await admin.shutdown(true);
    for (const outcome of await Promise.all(queued)) {
      expect(outcome).toBeInstanceOf(LoopbackSingletonError);
      expect((outcome as LoopbackSingletonError).code).toBe('ERR_SHUTDOWN_FORCED');
    }
    // The running call is let finish (briefly, so the dispose hook never overlaps it).
    expect(await running).toBe('running');
    await waitForExit(daemon.pid);
    expect(existsSync(daemon.paths.metadata)).toBe(false);
    expect(readFileSync(daemon.paths.log, 'utf8')).toContain('exit 0 (stopped)');
  });

  it('a superseded daemon drains by itself and never deletes the metadata the new daemon wrote', async () => {
    const runtime = freshRuntime();
    const old = await startDaemon({}, runtime);
    const oldConnection = await old.connect();
    const accepted = oldConnection.call('hold', [200, 'answered']);
    await oldConnection.ping();
    // A second daemon publishes over the same runtime dir (as a replacement would).
    const replacement = await spawnDaemon(daemonConfig(runtime.paths), 15_000);
    try {
      // The old daemon notices the live successor in metadata.json, drains (answering what it
      // accepted) and exits, leaving the successor's record alone.
      expect(await accepted).toBe('answered');
      await waitForExit(old.pid);
      expect(readFileSync(old.paths.log, 'utf8')).toContain(`superseded by daemon ${replacement.pid}`);
      const read = readMetadata(runtime.paths.metadata);
      expect(read.status === 'valid' && read.metadata.instanceId).toBe(replacement.metadata.instanceId);
    } finally {
      process.kill(replacement.pid, 'SIGTERM');
      await waitForExit(replacement.pid);
    }
    expect(existsSync(runtime.paths.metadata)).toBe(false);
  });

  it('a serving daemon mends a damaged or deleted metadata.json, so clients still find it', async () => {
    const daemon = await startDaemon();
    const original = readFileSync(daemon.paths.metadata, 'utf8');
    for (const damage of ['', '{"pid": 12', 'garbage\u0000']) {
      writeFileSync(daemon.paths.metadata, damage);
      const deadline = Date.now() + 5000;
      while (readMetadata(daemon.paths.metadata).status !== 'valid') {
        if (Date.now() > deadline) throw new Error('metadata.json was not mended');
        await sleep(20);
      }
      expect(readFileSync(daemon.paths.metadata, 'utf8')).toBe(original);
    }
    rmSync(daemon.paths.metadata);
    const deadline = Date.now() + 5000;
    while (!existsSync(daemon.paths.metadata)) {
      if (Date.now() > deadline) throw new Error('metadata.json was not restored');
      await sleep(20);
    }
    expect((await (await daemon.connect()).ping()).pid).toBe(daemon.pid);
  });

  it('a forced shutdown during a graceful drain skips the rest of the queue', async () => {
    const daemon = await startDaemon();
    const caller = await daemon.connect();
    const running = caller.call('hold', [300, 'running']).catch((e: unknown) => e);
    const queued = Array.from({ length: 3 }, () => caller.call('hold', [300, 'late']).catch((e: unknown) => e));
    const admin = await daemon.connect();
    await admin.ping();
    await admin.shutdown(false);
    await admin.shutdown(true); // the escalation arrives while the graceful drain waits
    await waitForExit(daemon.pid);
    const outcomes = await Promise.all([running, ...queued]);
    expect(outcomes.filter((o) => o === 'late')).toHaveLength(0);
    expect(outcomes.some((o) => (o as LoopbackSingletonError).code === 'ERR_SHUTDOWN_FORCED')).toBe(true);
    expect(readFileSync(daemon.paths.log, 'utf8')).toContain('exit 0 (stopped)');
  });

  it('SIGTERM drains like a graceful shutdown', async () => {
    const daemon = await startDaemon();
    const caller = await daemon.connect();
    const accepted = caller.call('hold', [200, 'finished']);
    await caller.ping();
    process.kill(daemon.pid, 'SIGTERM');
    expect(await accepted).toBe('finished');
    await waitForExit(daemon.pid);
    expect(existsSync(daemon.paths.metadata)).toBe(false);
  });

  it('transport ipc: a private Unix socket that works and is removed on exit', async () => {
    const daemon = await startDaemon({ transport: 'ipc' });
    expect(daemon.metadata.transport).toBe('ipc');
    const socketPath = daemon.metadata.path!;
    expect(lstatSync(socketPath).isSocket()).toBe(true);
    const connection = await daemon.connect();
    expect(await Promise.all([connection.call('inc', []), connection.call('inc', [])])).toEqual([1, 2]);
    expect((await connection.ping()).address).toBe(socketPath);
    await connection.shutdown(false);
    await waitForExit(daemon.pid);
    expect(existsSync(socketPath)).toBe(false);
  });
});
