/** Free TCP ports on 127.0.0.1, for servers a test starts and for addresses nothing listens on. */
import { createServer } from 'node:net';

/**
 * `count` distinct free TCP ports on 127.0.0.1 (free when asked: whoever binds them does so moments later).
 * Every listener stays open until all are chosen: closed one by one, the kernel may hand the
 * same port out twice (a CI run once got a cluster whose first and third member shared one).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => createServer());
  try {
    for (const server of servers) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
    }
    return servers.map((server) => (server.address() as { port: number }).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()))));
  }
}
