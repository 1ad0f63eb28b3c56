// The baseline server, forked by scripts/bench/main.mjs: a raw echo on the same transport as
// the daemon it is compared with, in its own process like the daemon. Usage:
//   node echo-server.mjs tcp            listens on 127.0.0.1, an ephemeral port, noDelay
//   node echo-server.mjs ipc <path>     listens on the Unix socket <path>
// It answers each `{t: 'call', id}` frame with `{t: 'reply', id, r}` (r: a counter, like the
// hosted Counter's inc(); for `m: 'item'`, `{ i, pad }` with `a[0]` bytes of padding, like one
// item of the hosted Counter's items() stream; for `m: 'echo'`, `a[0]` as it came). The replies to the frames of one received chunk leave in one write
// (corked while the chunk is read): a lone call gets its reply at once, a burst of pipelined
// calls costs one syscall, not one per reply. No handshake, no lock, no queue. It tells its
// parent `{ t: 'listening', address }` over the IPC channel and exits when the channel closes,
// so it never outlives the bench.
import { createServer } from 'node:net';
import { decodePayload, encodeFrame, FrameReader } from './frames.mjs';

const [transport, path] = process.argv.slice(2);
let counter = 0;
/** The padding of the items answered, by size. */
const pads = new Map();
const item = (size) => {
  if (!pads.has(size)) pads.set(size, 'x'.repeat(size));
  return { i: ++counter, pad: pads.get(size) };
};

/** A call's answer: `echo` gives its argument back (the --peers echo rows), `item` a stream's item, else the counter. */
const answer = (message) => (message.m === 'echo' ? message.a[0] : message.m === 'item' ? item(message.a[0]) : ++counter);

const server = createServer({ noDelay: true }, (socket) => {
  const reader = new FrameReader((payload) => {
    const message = decodePayload(payload);
    if (message.t === 'call') socket.write(encodeFrame({ t: 'reply', id: message.id, r: answer(message) }));
  });
  socket.on('data', (chunk) => {
    socket.cork();
    reader.push(chunk);
    socket.uncork();
  });
  socket.on('error', () => socket.destroy());
});

const listening = () => {
  const address = server.address();
  process.send({ t: 'listening', address: typeof address === 'string' ? { path: address } : { host: address.address, port: address.port } });
};
if (transport === 'ipc') server.listen(path, listening);
else server.listen(0, '127.0.0.1', listening);
process.on('disconnect', () => process.exit(0));
