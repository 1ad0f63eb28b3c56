/**
 * A TCP proxy on 127.0.0.1 in front of one address, that a test can cut: a network partition
 * between one process's client and a server, without pausing either. Cut, it holds every
 * connection open and forwards nothing either way (a black hole, as a partition looks from
 * both ends: no reset, no answer), and new connections get the same.
 */
import { createServer, type Server, type Socket, connect } from 'node:net';

/** A running proxy. */
export interface TcpProxy {
  /** The proxy's own port on 127.0.0.1. */
  readonly port: number;
  /** From now on nothing passes, on existing or new connections. */
  cut(): void;
  /** Closes the proxy and every connection through it. Idempotent. */
  close(): Promise<void>;
}

/** Starts a proxy to `target` (`host:port`). */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let isCut = false;
  const server: Server = createServer((inbound) => {
    sockets.add(inbound);
    inbound.on('close', () => sockets.delete(inbound));
    inbound.on('error', () => {});
    if (isCut) {
      inbound.pause();
      return;
    }
    const outbound = connect(target.port, target.host);
    sockets.add(outbound);
    outbound.on('close', () => {
      sockets.delete(outbound);
      if (!isCut) inbound.destroy();
    });
    outbound.on('error', () => {});
    inbound.on('close', () => {
      if (!isCut) outbound.destroy();
    });
    inbound.on('data', (chunk) => {
      if (!isCut) outbound.write(chunk);
    });
    outbound.on('data', (chunk) => {
      if (!isCut) inbound.write(chunk);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  let closed: Promise<void> | undefined;
  return {
    port,
    cut() {
      isCut = true;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      });
      return closed;
    },
  };
}
