/**
 * The daemon's listening socket: 127.0.0.1 on an ephemeral port, or a Unix socket (a named
 * pipe on Windows) whose name is unique to this daemon instance, so an old daemon closing its
 * socket can never remove a newer daemon's; bound at boot, and bound again when its socket
 * file was deleted or replaced ({@link Listener}). With `host` and `tls` ({@link ListenOptions},
 * for `scope: 'cluster'`) it listens on that address, over mutual TLS (../net/tls.ts, loaded
 * then only); off loopback only with `tls`.
 */
import { createHash } from 'node:crypto';
import { lstatSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { LoopbackSingletonError } from '../errors.js';
import type { TlsMaterial } from '../net/tls-material.js';
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

/** Where and how a tcp daemon listens beyond the loopback default (../runtime/daemon-config.ts). */
export interface ListenOptions {
  /** The address to listen on. @default '127.0.0.1' */
  readonly host?: string | undefined;
  /** Mutual TLS (../net/tls.ts): required off loopback. */
  readonly tls?: TlsMaterial | undefined;
  /** A connection whose TLS handshake has not ended within this long is dropped. */
  readonly handshakeTimeoutMs?: number | undefined;
}

/** The most a TLS handshake may take when no `handshakeTimeoutMs` is given. */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Creates a server and binds it; resolves once it listens. */
export function listen(transport: Transport, dir: string, instanceId: string, onConnection: (socket: Socket) => void, options: ListenOptions = {}): Promise<Bound> {
  // The loopback default, as it always was: nothing more to load or check.
  if (options.host === undefined && options.tls === undefined) return bindServer(createServer({ noDelay: true }, onConnection), transport, dir, instanceId, '127.0.0.1');
  return listenConfigured(transport, dir, instanceId, onConnection, options);
}

/** {@link listen} on a configured `host`, or over TLS: refused off loopback without `tls`. */
async function listenConfigured(transport: Transport, dir: string, instanceId: string, onConnection: (socket: Socket) => void, options: ListenOptions): Promise<Bound> {
  const host = options.host ?? '127.0.0.1';
  if (transport === 'tcp') {
    const { isLoopbackHost } = await import('../listen-security.js');
    if (!isLoopbackHost(host) && options.tls === undefined) {
      throw new LoopbackSingletonError(`Refusing to listen on \`${host}\`: it is not a loopback address, and the daemon has no \`tls\` to listen with off loopback`);
    }
  }
  if (options.tls === undefined) return bindServer(createServer({ noDelay: true }, onConnection), transport, dir, instanceId, host);
  const { createTlsServer } = await import('../net/tls.js');
  return bindServer(createTlsServer(options.tls, options.handshakeTimeoutMs ?? TLS_HANDSHAKE_TIMEOUT_MS, onConnection), transport, dir, instanceId, host);
}

/** Binds `server` (tcp on `host`, or this instance's ipc path); resolves once it listens. */
function bindServer(server: Server, transport: Transport, dir: string, instanceId: string, host: string): Promise<Bound> {
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
  readonly #options: ListenOptions;
  #server: Server | undefined;
  #address: BoundAddress | undefined;
  /** The ipc socket file bound at boot, for the upkeep to notice it deleted (see ./upkeep.ts). */
  #socketId: string | undefined;
  /** Servers replaced by a re-bind: each resolves once the connections it accepted have ended. */
  readonly retired: Promise<void>[] = [];

  constructor(transport: Transport, dir: string, instanceId: string, onConnection: (socket: Socket) => void, options: ListenOptions = {}) {
    this.#transport = transport;
    this.#options = options;
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
    const { server, address, socketId } = await listen(this.#transport, this.#dir, this.#instanceId, this.#onConnection, this.#options);
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
    const bound = await listen(this.#transport, this.#dir, this.#instanceId, this.#onConnection, this.#options);
    if (!isServing()) {
      // The drain began meanwhile and closed the old server only.
      bound.server.close();
      return undefined;
    }
    this.#server = bound.server;
    return bound.socketId;
  }
}
