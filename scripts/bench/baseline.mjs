// The baseline of every throughput figure (see ../shared/PERF.md, "The baseline"): the echo
// server in a second process and a minimal client in the bench's own process. The client is
// what a careful hand-written RPC client would be: ids, a pending map, one buffer per request,
// one socket, writes coalesced while requests are in flight; no lock, no auth, no statecharts,
// no queue.
import { fork } from 'node:child_process';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { decodePayload, encodeFrame, FrameReader } from './frames.mjs';

const ECHO_SERVER = fileURLToPath(new URL('./echo-server.mjs', import.meta.url));

/**
 * Forks the echo server on `transport` ('tcp', or 'ipc' on the Unix socket `socketPath`).
 * `child` is returned at once (for the caller's cleanup), `address` once it listens.
 */
export function startEchoServer(transport, socketPath) {
  const args = transport === 'ipc' ? ['ipc', socketPath] : ['tcp'];
  const child = fork(ECHO_SERVER, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const address = new Promise((resolve, reject) => {
    child.once('message', (message) => resolve(message.address));
    child.once('exit', (code, signal) => reject(new Error(`the echo server exited (${signal ?? code}) before it listened`)));
  });
  return { child, address };
}

/** A client of the echo server: `call()` resolves with the reply's `r`. */
export class EchoClient {
  #socket;
  /** id -> { resolve, reject } of the requests in flight */
  #pending = new Map();
  #nextId = 0;
  /** True while this tick's writes are held, to leave together (see call()). */
  #corked = false;

  constructor(socket) {
    this.#socket = socket;
    const reader = new FrameReader((payload) => {
      const { id, r } = decodePayload(payload);
      const pending = this.#pending.get(id);
      this.#pending.delete(id);
      pending.resolve(r);
    });
    let closedBy = new Error('the echo server closed the connection');
    socket.on('data', (chunk) => reader.push(chunk));
    socket.on('error', (error) => (closedBy = error));
    socket.on('close', () => {
      for (const pending of this.#pending.values()) pending.reject(closedBy);
      this.#pending.clear();
    });
  }

  /** Connects to what {@link startEchoServer} reported; noDelay on TCP, like the library. */
  static connect(address) {
    return new Promise((resolve, reject) => {
      const socket = address.path ? connect({ path: address.path }) : connect({ host: address.host, port: address.port, noDelay: true });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new EchoClient(socket));
      });
    });
  }

  /**
   * Sends `{t: 'call', id, m, a}`, the library's call message, and waits for its reply. A
   * request issued alone (sequential calls) is written at once; one issued while others are in
   * flight (pipelined calls, refilled as a chunk of replies arrives) is held until the end of
   * the tick, so that the requests issued together leave in one write.
   */
  call(m, a) {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      if (this.#pending.size > 0 && !this.#corked) {
        this.#corked = true;
        this.#socket.cork();
        process.nextTick(() => {
          this.#corked = false;
          this.#socket.uncork();
        });
      }
      this.#pending.set(id, { resolve, reject });
      this.#socket.write(encodeFrame({ t: 'call', id, m, a }));
    });
  }

  close() {
    this.#socket.end();
  }
}
