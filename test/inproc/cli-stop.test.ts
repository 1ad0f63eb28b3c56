/**
 * `loopback-singleton stop` (src/cli/stop.ts) in this process, against stand-ins for a daemon
 * that does not answer over the protocol: a child process recorded in a runtime dir the test
 * makes, draining or mute, or behind a listener that refuses our protocol version with a
 * refusal signed with the token. What it prints, its exit, whom it signals and what it removes.
 * Stops of a daemon that answers are in ./cli.test.ts.
 */
import { fakeRecord } from '../support/records.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CliFailure } from '../../src/cli/args.js';
import { run } from '../../src/cli/stop.js';
import { writeMetadata } from '../../src/runtime/metadata.js';
import { runtimePaths } from '../../src/runtime/paths.js';
import { processStartTime } from '../../src/runtime/process.js';
import type { DaemonMetadata, RuntimePaths } from '../../src/types.js';
import { computeProof, createNonce } from '../../src/wire/auth.js';
import { decodeValue, encodeFrame, FrameDecoder } from '../../src/wire/codec.js';
import { makeRoot, removeRoot } from '../support/in-process.js';

const TOKEN_TEXT = 'cd'.repeat(32);

let root: string;
const children: ChildProcess[] = [];
const servers: Server[] = [];
beforeEach(() => {
  root = makeRoot('lbs-stop-');
});
afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
  removeRoot(root);
});

/** A process up and running (its SIGTERM handler set, when `script` sets one). */
async function daemonStandIn(script = ''): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', `${script}; console.log('up'); setTimeout(() => {}, 20000)`], { stdio: ['ignore', 'pipe', 'ignore'] });
  children.push(child);
  await new Promise((resolve) => child.stdout!.once('data', resolve));
  return child;
}

function exitSignal(child: ChildProcess): Promise<NodeJS.Signals | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.signalCode);
  return new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
}

/** The runtime dir `name` recording `child` (and a token), as its daemon would have written it. */
function record(name: string, child: ChildProcess, extra: Partial<DaemonMetadata> = {}): { paths: RuntimePaths; metadata: DaemonMetadata } {
  const paths = runtimePaths(root, name);
  mkdirSync(paths.dir, { mode: 0o700 });
  writeFileSync(paths.token, TOKEN_TEXT, { mode: 0o600 });
  const metadata = fakeRecord(child.pid!, { startTime: processStartTime(child.pid!), instanceId: 'e'.repeat(32), ...extra });
  writeMetadata(paths.metadata, metadata);
  return { paths, metadata };
}

async function stop(name: string, values: Record<string, string | boolean> = {}): Promise<{ code: number; stdout: string }> {
  const out: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  try {
    return { code: await run({ root, values, positionals: [name] }), stdout: out.join('') };
  } finally {
    write.mockRestore();
  }
}

/** A listener that answers every hello with a version refusal signed with the token, naming `pid`. */
async function refusingListener(pid: number): Promise<number> {
  const server = createServer((socket: Socket) => {
    socket.on('error', () => {});
    const decoder = new FrameDecoder(1024 * 1024);
    socket.on('data', (chunk: Buffer) =>
      decoder.push(chunk, (payload) => {
        const hello = decodeValue(payload) as { nonce: Uint8Array };
        const nonce = createNonce();
        const e = { code: 'ERR_PROTOCOL_VERSION', name: 'HandshakeError', message: 'another version' };
        const proof = computeProof(Buffer.from(TOKEN_TEXT), 'refusal', hello.nonce, nonce);
        socket.end(encodeFrame({ t: 'error', id: null, e, v: 99, pid, nonce, proof }, 1024 * 1024));
      }),
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

describe('stop, when the daemon does not answer over the protocol', () => {
  it('a graceful stop of a draining daemon waits for it, signals nothing, and fails past --timeout saying to try --force', async () => {
    const child = await daemonStandIn();
    record('svc', child, { draining: true } as Partial<DaemonMetadata>);
    const error = await stop('svc', { timeout: '150' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CliFailure);
    expect((error as Error).message).toBe(`singleton "svc": pid ${child.pid} still runs after 150 ms (it goes on draining, within its drain deadline); try --force`);
    expect(child.signalCode).toBeNull();
    expect(child.exitCode).toBeNull();
  });

  it('--force stops a draining daemon by signal, and removes the record it left behind', async () => {
    const child = await daemonStandIn();
    const { paths } = record('svc', child, { draining: true } as Partial<DaemonMetadata>);
    const { code, stdout } = await stop('svc', { force: true });
    expect(code).toBe(0);
    const [first, second] = stdout.split('\n');
    expect(first).toBe(
      `stopping "svc" (pid ${child.pid}, forced: queued calls are rejected, and the process is killed if it is still running after 2000 ms; it is draining already)`,
    );
    expect(second).toMatch(new RegExp(`^stopped "svc": pid ${child.pid} exited after \\S+; removed the record it left behind$`));
    expect(await exitSignal(child)).toBe('SIGTERM');
    expect(existsSync(paths.metadata)).toBe(false);
  });

  it('--force kills a mute daemon that ignores SIGTERM, and says so', async () => {
    const child = await daemonStandIn("process.on('SIGTERM', () => {})");
    // A malformed token: it cannot be asked over the protocol, so it is `unresponsive`.
    const { paths } = record('svc', child);
    writeFileSync(paths.token, 'not a token', { mode: 0o600 });
    const { code, stdout } = await stop('svc', { force: true });
    expect(code).toBe(0);
    expect(stdout.split('\n')[0]).toBe(
      `stopping "svc" (pid ${child.pid}, forced: queued calls are rejected, and the process is killed if it is still running after 2000 ms; it does not answer over its protocol, so by signal)`,
    );
    expect(stdout.split('\n')[1]).toMatch(new RegExp(`^stopped "svc": pid ${child.pid} killed \\(SIGKILL\\) after \\S+; removed the record it left behind$`));
    expect(await exitSignal(child)).toBe('SIGKILL');
  });

  it('a graceful stop of a mute daemon (no --force) fails, naming why, and signals nothing', async () => {
    const child = await daemonStandIn();
    const { paths } = record('svc', child);
    writeFileSync(paths.token, 'not a token', { mode: 0o600 });
    const error = await stop('svc').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CliFailure);
    expect((error as Error).message).toMatch(new RegExp(`^singleton "svc" under .*: pid ${child.pid} runs, but Token file .* is malformed`));
    expect(child.signalCode).toBeNull();
  });

  it('a daemon of another protocol version (its refusal signed with our token) is stopped by SIGTERM', async () => {
    const child = await daemonStandIn();
    const port = await refusingListener(child.pid!);
    const { paths } = record('svc', child, { port });
    const { code, stdout } = await stop('svc');
    expect(code).toBe(0);
    expect(stdout.split('\n')[0]).toBe(
      `stopping "svc" (pid ${child.pid}, graceful: accepted calls are answered first; it does not answer over its protocol, so by signal)`,
    );
    expect(stdout.split('\n')[1]).toMatch(new RegExp(`^stopped "svc": pid ${child.pid} exited after \\S+; removed the metadata it left behind$`));
    expect(await exitSignal(child)).toBe('SIGTERM');
    expect(existsSync(paths.metadata)).toBe(false);
  });

  it('a refusal naming another pid than the record is not that daemon: nothing is signalled', async () => {
    const child = await daemonStandIn();
    const port = await refusingListener(child.pid! + 100_000);
    record('svc', child, { port });
    const error = await stop('svc').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(CliFailure);
    expect((error as Error).message).toMatch(new RegExp(`^singleton "svc" under .*: pid ${child.pid} did not answer: .*speaks protocol 99`));
    expect(child.signalCode).toBeNull();
  });

  it('a bad --timeout is a usage error', async () => {
    await expect(stop('svc', { timeout: '-1' })).rejects.toMatchObject({ name: 'UsageError', exitCode: 2 });
  });
});
