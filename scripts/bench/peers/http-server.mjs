// The HTTP peer's server, forked by peers/servers.mjs: node:http on 127.0.0.1, an ephemeral
// port, hosting the same counter and echo as the library's Counter. `POST /inc` answers the
// new count as text; `POST /echo` answers its body. It tells its parent
// `{ t: 'listening', port }` over the IPC channel and exits when the channel closes.
import { createServer } from 'node:http';

let counter = 0;
const server = createServer((request, response) => {
  if (request.url === '/inc') {
    request.resume();
    request.on('end', () => response.end(String(++counter)));
    return;
  }
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', () => response.end(Buffer.concat(chunks)));
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => process.send({ t: 'listening', port: server.address().port }));
process.on('disconnect', () => process.exit(0));
