// One client of each Node peer, behind the same three calls: `inc()` (the counter),
// `echo(string)` (the string back) and `close()`. `open(peer)` connects and resolves once the
// client can call; a peer is `{ kind, ... }` as peers/servers.mjs describes it (the address of
// its server), so that a forked process (peers/client-process.mjs) opens the same client.
// Each client is used as its documentation shows, with its defaults.

/** Opens a client of `peer`. */
export async function open(peer) {
  switch (peer.kind) {
    case 'library':
      return openLibrary(peer);
    case 'ioredis':
      return openIoredis(peer);
    case 'node-redis':
      return openNodeRedis(peer);
    case 'undici':
      return openUndici(peer);
    case 'node-echo':
      return openNodeEcho(peer);
    default:
      throw new Error(`no Node client for peer kind '${peer.kind}'`);
  }
}

async function openLibrary({ name, factory, runtimeDir, transport, idleTtlMs }) {
  const { localSingleton } = await import('loopback-singleton');
  const counter = await localSingleton(name, { module: factory.module, export: factory.export }, { runtimeDir, transport, idleTtlMs }).proxy();
  return {
    inc: () => counter.inc(),
    echo: (value) => counter.echo(value),
    close: () => counter[Symbol.asyncDispose](),
  };
}

async function openIoredis({ host, port, path }) {
  const { Redis } = await import('ioredis');
  const redis = new Redis(path ? { path, lazyConnect: true } : { host, port, lazyConnect: true });
  await redis.connect();
  return {
    inc: () => redis.incr('counter'),
    echo: (value) => redis.echo(value),
    close: () => redis.quit(),
  };
}

async function openNodeRedis({ host, port, path }) {
  const { createClient } = await import('redis');
  const client = createClient({ socket: path ? { path } : { host, port } });
  await client.connect();
  return {
    inc: () => client.incr('counter'),
    echo: (value) => client.echo(value),
    close: () => client.close(),
  };
}

async function openUndici({ origin }) {
  const { Pool } = await import('undici');
  const pool = new Pool(origin);
  const post = async (path, body) => {
    const response = await pool.request({ path, method: 'POST', body });
    return response.body.text();
  };
  return {
    inc: async () => Number(await post('/inc')),
    echo: (value) => post('/echo', value),
    close: () => pool.close(),
  };
}

/**
 * The raw Node echo of `npm run bench` (../baseline.mjs): no peer a user would pick, but the
 * limit of any daemon written in Node on this machine (framing and MessagePack, nothing else),
 * shown beside the peers so that a row's gap can be read as the library's or Node's.
 */
async function openNodeEcho({ address }) {
  const { EchoClient } = await import('../baseline.mjs');
  const client = await EchoClient.connect(address);
  return {
    inc: () => client.call('inc', []),
    echo: (value) => client.call('echo', [value]),
    // Its reader (../frames.mjs) joins a frame split across chunks anew with every chunk, fine for
    // the bench's small frames and quadratic for large ones: no reference for the large echoes.
    echoUpTo: 1024,
    close: async () => client.close(),
  };
}
