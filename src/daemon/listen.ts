/**
 * The daemon's listening socket: 127.0.0.1 on an ephemeral port, or a Unix socket (a named
 * pipe on Windows) whose name is unique to this daemon instance, so an old daemon closing its
 * socket can never remove a newer daemon's; bound at boot, and bound again when its socket
 * file was deleted or replaced ({@link Listener}).
 */
import { createHash } from 'node:crypto';
import { lstatSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { LoopbackSingletonError } from '../errors.js';
import { socketPathProblem, unixSocketPath } from '../runtime/paths.js';
import type { Transport } from '../types.js';

/** Where a bound server listens. */
export type BoundAddress = { readonly transport: 'tcp'; readonly host: string; readonly port: number } | { readonly transport: 'ipc'; readonly path: string };

/** The socket path (or pipe name) an `ipc` daemon with `instanceId` uses in `dir`. */
export function ipcPath(dir: string, instanceId: string): string {
  if (process.platform === 'win32') {
    const hash = createHash('sha256').update(dir).digest('hex').slice(0, 16);
    return `\\\\.\\pipe\\loopback-singleton-${hash}-${instanceId.slice(0, 12)}`;
  }
  return unixSocketPath(dir, instanceId);
}

/**
 * Which socket file is at `path` (device and inode), or undefined when there is none (gone,
 * or something else sits there). A daemon compares it with the one it bound to notice that
 * its socket was deleted or replaced. Always undefined for a Windows named pipe.
 */
export function socketIdAt(path: string): string | undefined {
  if (process.platform === 'win32') return undefined;
  try {
    const stats = lstatSync(path, { bigint: true, throwIfNoEntry: false });
    return stats?.isSocket() ? `${stats.dev}:${stats.ino}` : undefined;
  } catch {
    return undefined;
  }
}

/** A listening server. */
export interface Bound {
  readonly server: Server;
  readonly address: BoundAddress;
  /**
   * The socket file it bound ({@link socketIdAt}), to watch for its deletion; undefined when
   * there is no file to watch (tcp, Windows named pipes).
   */
  readonly socketId: string | undefined;
}

/** Creates a server and binds it (`tcp`: on `host`, 127.0.0.1 unless a cluster daemon says otherwise); resolves once it listens. */
export function listen(transport: Transport, dir: string, instanceId: string, onConnection: (socket: Socket) => void, host = '127.0.0.1'): Promise<Bound> {
  const server = createServer({ noDelay: true }, onConnection);
  let address: BoundAddress;
  if (transport === 'tcp') {
    address = { transport: 'tcp', host, port: 0 };
  } else {
    const problem = socketPathProblem(dir);
    if (problem !== undefined) return Promise.reject(new LoopbackSingletonError(problem));
    address = { transport: 'ipc', path: ipcPath(dir, instanceId) };
  }
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const onListening = () => {
      server.off('error', reject);
      if (address.transport === 'tcp') {
        const bound = server.address();
        address = { transport: 'tcp', host, port: typeof bound === 'object' && bound ? bound.port : 0 };
      }
      // A socket deleted in the microseconds since the bind gets an id no file has: re-bound at the first check.
      const socketId = address.transport === 'ipc' && process.platform !== 'win32' ? (socketIdAt(address.path) ?? 'gone at bind') : undefined;
      resolve({ server, address, socketId });
    };
    if (address.transport === 'tcp') server.listen({ host, port: 0, exclusive: true }, onListening);
    else server.listen({ path: address.path, exclusive: true }, onListening);
  });
}

/** One daemon's listening server, and the servers a re-bind replaced. */
export class Listener {
  readonly #transport: Transport;
  readonly #dir: string;
  readonly #instanceId: string;
  readonly #onConnection: (socket: Socket) => void;
  /** The tcp host: 127.0.0.1, or a cluster daemon's `host`. */
  readonly #host: string;
  #server: Server | undefined;
  #address: BoundAddress | undefined;
  /** The ipc socket file bound at boot, for the upkeep to notice it deleted (see ./upkeep.ts). */
  #socketId: string | undefined;
  /** Servers replaced by a re-bind: each resolves once the connections it accepted have ended. */
  readonly retired: Promise<void>[] = [];

  constructor(transport: Transport, dir: string, instanceId: string, onConnection: (socket: Socket) => void, host = '127.0.0.1') {
    this.#host = host;
    this.#transport = transport;
    this.#dir = dir;
    this.#instanceId = instanceId;
    this.#onConnection = onConnection;
  }

  /** The server taking connections, once bound. */
  get server(): Server | undefined {
    return this.#server;
  }

  /** Where it listens, once bound. */
  get address(): BoundAddress | undefined {
    return this.#address;
  }

  /** The socket file bound at boot ({@link Bound.socketId}). */
  get socketId(): string | undefined {
    return this.#socketId;
  }

  /** Binds the server; resolves once it listens. */
  async bind(): Promise<void> {
    const { server, address, socketId } = await listen(this.#transport, this.#dir, this.#instanceId, this.#onConnection, this.#host);
    this.#server = server;
    this.#address = address;
    this.#socketId = socketId;
  }

  /**
   * Listens again on the ipc socket path after the socket file was deleted or replaced.
   * Accepted connections live on (closing a server does not close them). Resolves with the
   * new socket's id, or undefined when the daemon stopped serving meanwhile (`isServing`).
   */
  async rebind(isServing: () => boolean): Promise<string | undefined> {
    const old = this.#server;
    const address = this.#address;
    if (old === undefined || address?.transport !== 'ipc') return undefined;
    // First: libuv unlinks a pipe server's path when it closes, which would delete the new socket.
    this.retired.push(new Promise((resolve) => old.close(() => resolve())));
    const { path } = address;
    // Whatever was put at our instance's path in the socket's place would refuse the bind.
    if (lstatSync(path, { throwIfNoEntry: false })?.isDirectory() === false) rmSync(path, { force: true });
    const bound = await listen(this.#transport, this.#dir, this.#instanceId, this.#onConnection);
    if (!isServing()) {
      // The drain began meanwhile and closed the old server only.
      bound.server.close();
      return undefined;
    }
    this.#server = bound.server;
    return bound.socketId;
  }
}
