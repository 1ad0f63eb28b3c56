/**
 * Binding the daemon's listening socket: 127.0.0.1 on an ephemeral port, or a Unix socket
 * (a named pipe on Windows) whose name is unique to this daemon instance, so an old daemon
 * closing its socket can never remove a newer daemon's.
 */
import { createHash } from 'node:crypto';
import { lstatSync } from 'node:fs';
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

/** Creates a server and binds it; resolves once it listens. */
export function listen(transport: Transport, dir: string, instanceId: string, onConnection: (socket: Socket) => void): Promise<Bound> {
  const server = createServer({ noDelay: true }, onConnection);
  let address: BoundAddress;
  if (transport === 'tcp') {
    address = { transport: 'tcp', host: '127.0.0.1', port: 0 };
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
        address = { transport: 'tcp', host: '127.0.0.1', port: typeof bound === 'object' && bound ? bound.port : 0 };
      }
      // A socket deleted in the microseconds since the bind gets an id no file has: re-bound at the first check.
      const socketId = address.transport === 'ipc' && process.platform !== 'win32' ? (socketIdAt(address.path) ?? 'gone at bind') : undefined;
      resolve({ server, address, socketId });
    };
    if (address.transport === 'tcp') server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, onListening);
    else server.listen({ path: address.path, exclusive: true }, onListening);
  });
}
