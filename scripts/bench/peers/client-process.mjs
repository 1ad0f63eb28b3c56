// A client process of a Node peer, spawned or forked by peers/main.mjs. Usage:
//   node client-process.mjs once <json peer>    connect, one inc(), print the reply, exit
//   node client-process.mjs serve <json peer>   (forked, with an IPC channel) as ../worker.mjs:
//     -> { t: 'ready' }; <- { t: 'go', calls }; -> { t: 'done', calls }; <- { t: 'stop' }
// The peer's client library is imported inside open(), after the process starts: a new
// process pays for it as a user's would.
import { open } from './clients.mjs';

const [mode, spec] = process.argv.slice(2);
const client = await open(JSON.parse(spec));
if (mode === 'once') {
  process.stdout.write(`${await client.inc()}\n`);
  await client.close();
} else {
  process.on('message', async (message) => {
    if (message.t === 'go') {
      for (let i = 0; i < message.calls; i++) await client.inc();
      process.send({ t: 'done', calls: message.calls });
    } else if (message.t === 'stop') {
      await client.close();
      process.disconnect();
    }
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ t: 'ready' });
}
