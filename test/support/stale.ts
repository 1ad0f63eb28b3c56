/**
 * What a crash or an intruder leaves behind, for the recovery tests and the client model:
 * dead pids, ports nobody listens on, plausible metadata naming them, and listeners that are
 * not our daemon.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { expect, onTestFinished } from 'vitest';
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '../../dist/src/version.js';
import { decodeValue, encodeFrame, FrameDecoder } from '../../dist/src/wire/codec.js';
import { isAlive, MAX_FRAME } from './daemon.js';
import { freePorts } from './ports.js';

/** A pid that certainly belongs to no process any more. */
export function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  expect(child.status).toBe(0);
  expect(isAlive(child.pid!)).toBe(false);
  return child.pid!;
}

/** A TCP port on 127.0.0.1 that nothing listens on (it was bound and released). */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

/** Metadata of valid shape for a tcp daemon `pid` listening on `port`. */
export function staleMetadata(pid: number, port: number): Record<string, unknown> {
  return {
    pid,
    instanceId: `stale-${randomBytes(8).toString('hex')}`,
    transport: 'tcp',
    host: '127.0.0.1',
    port,
    protocolVersion: PROTOCOL_VERSION,
    packageVersion: PACKAGE_VERSION,
    factoryId: 'f'.repeat(64),
    startedAt: Date.now() - 60_000,
  };
}

/** A listener on 127.0.0.1 that is not our daemon; closed when the test ends. */
export interface ForeignListener {
  readonly port: number;
  /** Every byte received, over all connections. */
  readonly bytes: () => Buffer;
  /** Every frame received, decoded. */
  readonly messages: () => Array<Record<string, unknown>>;
  readonly connections: () => number;
  readonly openSockets: () => number;
}

/** `reply`: answer each hello with a fake challenge, stay silent, or answer with this message. */
export async function foreignListener(reply: 'challenge' | 'silent' | Record<string, unknown>): Promise<ForeignListener> {
  const chunks: Buffer[] = [];
  const messages: Array<Record<string, unknown>> = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    const decoder = new FrameDecoder(MAX_FRAME);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (chunk: Buffer) => {
      chunks.push(Buffer.from(chunk));
      try {
        decoder.push(chunk, (payload) => {
          const message = decodeValue(payload) as Record<string, unknown>;
          messages.push(message);
          if (message.t !== 'hello' || reply === 'silent') return;
          // A fake challenge looks plausible, but cannot come from the token: its proof is random.
          const answer = reply === 'challenge' ? { t: 'challenge', v: PROTOCOL_VERSION, pkg: 'x', nonce: randomBytes(32), proof: randomBytes(32) } : reply;
          socket.write(encodeFrame(answer, MAX_FRAME));
        });
      } catch {
        messages.push({ t: '<undecodable>' });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {
    port: (server.address() as { port: number }).port,
    bytes: () => Buffer.concat(chunks),
    messages: () => messages,
    connections: () => connections,
    openSockets: () => sockets.size,
  };
}
