/**
 * Helpers for tests that start real daemons. Everything here imports the BUILT package
 * (dist/), because the daemon runs as its own Node process from dist/ exactly as users get it.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inject, onTestFinished } from 'vitest';
import { Connection } from '../../dist/src/client/connection.js';
import { launchDaemon, type SpawnedDaemon } from '../../dist/src/client/spawn.js';
import { ConnectionFailedError } from '../../dist/src/errors.js';
import type { DaemonConfig } from '../../dist/src/runtime/daemon-config.js';
import { ensurePrivateDir } from '../../dist/src/runtime/dir.js';
import { runtimePaths } from '../../dist/src/runtime/paths.js';
import { isProcessAlive } from '../../dist/src/runtime/process.js';
import { loadOrCreateToken } from '../../dist/src/runtime/token.js';
import type { DaemonMetadata, RuntimePaths } from '../../dist/src/types.js';
import { decodeValue, encodeFrame, encodeValue, FrameDecoder } from '../../dist/src/wire/codec.js';
import { sleep } from './wait.js';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
export const SERVICES_URL = pathToFileURL(join(FIXTURES, 'services.mjs')).href;
export const MAX_FRAME = 16 * 1024 * 1024;

/** A fresh runtime root (under the suite's root, which the leak check scans). */
export function freshRoot(): string {
  return mkdtempSync(join(inject('suiteRoot'), 'rt-'));
}

/** A fresh singleton's paths, its private dir and its token. */
export function freshRuntime(name = 'svc', root = freshRoot()): { root: string; paths: RuntimePaths; token: Buffer } {
  const paths = runtimePaths(root, name);
  ensurePrivateDir(paths.dir);
  return { root, paths, token: loadOrCreateToken(paths.token) };
}

/** Config overrides a test may give. */
export type DaemonOverrides = Partial<Omit<DaemonConfig, 'args'>> & { args?: unknown[] };

export function daemonConfig(paths: RuntimePaths, overrides: DaemonOverrides = {}): DaemonConfig {
  const { args = [], ...rest } = overrides;
  return {
    name: 'svc',
    paths,
    factory: { module: SERVICES_URL, export: 'Counter', argsHash: 'test-args', codeHash: undefined },
    startReason: 'first',
    args: encodeValue(args),
    factoryId: 'test-factory',
    transport: 'tcp',
    idleTtlMs: 30_000,
    maxFrameBytes: MAX_FRAME,
    maxQueuedCalls: 10_000,
    handshakeTimeoutMs: 2000,
    stallTimeoutMs: 2000,
    bootTimeoutMs: 10_000,
    drainTimeoutMs: 5000,
    ...rest,
  };
}

/** True while `pid` runs; a zombie (exited, not yet reaped by init) counts as exited. */
export function isAlive(pid: number): boolean {
  return isProcessAlive(pid);
}

/** Every pid that wrote a `[daemon PID]` line to the daemon log at `log` (none if it cannot be read). */
export function loggedDaemonPids(log: string): number[] {
  let text: string;
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return [];
  }
  return [...new Set([...text.matchAll(/\[daemon (\d+)\]/g)].map((match) => Number(match[1])))];
}

/** Resolves once `pid` has exited; rejects after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} still alive after ${timeoutMs} ms`);
    await sleep(25);
  }
}

/**
 * Spawns a daemon with `config` and waits until it has published its metadata, at most
 * `timeoutMs` (then it is killed, so no orphan is left). `launch` is this package's
 * `launchDaemon`, or another copy's (a package that speaks another protocol version).
 */
export async function spawnDaemon(config: DaemonConfig, timeoutMs: number, launch: typeof launchDaemon = launchDaemon): Promise<SpawnedDaemon> {
  const launched = launch(config);
  const timer = setTimeout(
    () => launched.abort(new ConnectionFailedError(`The daemon did not become ready within ${timeoutMs} ms; it was killed. See ${config.paths.log}`)),
    timeoutMs,
  );
  try {
    return await launched.ready;
  } finally {
    clearTimeout(timer);
  }
}

/** A started daemon and what a test needs to talk to it. */
export interface StartedDaemon {
  readonly pid: number;
  readonly metadata: DaemonMetadata;
  readonly paths: RuntimePaths;
  readonly token: Buffer;
  /** Opens an authenticated connection (closed when the test ends). */
  connect(): Promise<Connection>;
}

/**
 * Spawns a daemon in a fresh runtime dir. When the test ends its connections are closed
 * and the daemon is killed if it is still alive.
 */
export async function startDaemon(overrides: DaemonOverrides = {}, runtime = freshRuntime()): Promise<StartedDaemon> {
  const { paths, token } = runtime;
  const { pid, metadata } = await spawnDaemon(daemonConfig(paths, overrides), 15_000);
  const connections: Connection[] = [];
  onTestFinished(async () => {
    for (const connection of connections) connection.close();
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    await waitForExit(pid);
  });
  return {
    pid,
    metadata,
    paths,
    token,
    async connect() {
      const connection = await Connection.open(metadata, { token, maxFrameBytes: MAX_FRAME, timeoutMs: 5000 });
      connections.push(connection);
      return connection;
    },
  };
}

/** A raw socket that speaks frames, for tests that misbehave on purpose. */
export class RawPeer {
  readonly socket: Socket;
  readonly #decoder = new FrameDecoder(MAX_FRAME);
  readonly #messages: unknown[] = [];
  readonly #waiters: Array<(message: unknown) => void> = [];
  /** Resolves when the daemon closes the connection. */
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) =>
      this.#decoder.push(chunk, (payload) => {
        const message = decodeValue(payload);
        const waiter = this.#waiters.shift();
        if (waiter) waiter(message);
        else this.#messages.push(message);
      }),
    );
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static open(metadata: DaemonMetadata): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = metadata.transport === 'tcp' ? connect({ host: metadata.host!, port: metadata.port! }) : connect({ path: metadata.path! });
      socket.once('connect', () => {
        const peer = new RawPeer(socket);
        onTestFinished(() => void socket.destroy());
        resolve(peer);
      });
      socket.once('error', reject);
    });
  }

  send(message: unknown): void {
    this.socket.write(encodeFrame(message, MAX_FRAME));
  }

  write(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The next message from the daemon; rejects if the connection closes first. */
  next(timeoutMs = 5000): Promise<Record<string, unknown>> {
    const queued = this.#messages.shift();
    if (queued !== undefined) return Promise.resolve(queued as Record<string, unknown>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no message from the daemon in time')), timeoutMs);
      this.#waiters.push((message) => {
        clearTimeout(timer);
        resolve(message as Record<string, unknown>);
      });
      void this.closed.then(() => {
        clearTimeout(timer);
        reject(new Error('the daemon closed the connection'));
      });
    });
  }
}

/** Runs the handshake on a raw peer with `token`; resolves with the welcome message. */
export async function rawHandshake(peer: RawPeer, token: Uint8Array): Promise<Record<string, unknown>> {
  const { computeProof, createNonce } = await import('../../dist/src/wire/auth.js');
  const { PROTOCOL_VERSION } = await import('../../dist/src/version.js');
  const clientNonce = createNonce();
  peer.send({ t: 'hello', v: PROTOCOL_VERSION, pkg: 'test', nonce: clientNonce });
  const challenge = await peer.next();
  peer.send({ t: 'auth', proof: computeProof(token, 'client', clientNonce, challenge.nonce as Uint8Array) });
  return peer.next();
}
