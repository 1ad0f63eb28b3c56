/**
 * The client's half of the handshake (src/client/handshake.ts, its effects and errors in
 * src/wire/handshake.ts) against listeners in this process that play a daemon by hand: one of
 * another protocol version (its refusal signed with our token, or not), one that cannot prove
 * it holds the token, one that refuses after the proof, says something out of turn, sends a
 * frame that is no message, closes, or never answers; and nothing listening at all. Each
 * ending is a distinct error, by code and by what its message names.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { shakeHands } from '../../src/client/handshake.js';
import { ConnectionFailedError, HandshakeError, ProtocolError } from '../../src/errors.js';
import { PROTOCOL_VERSION } from '../../src/version.js';
import { computeProof, createNonce } from '../../src/wire/auth.js';
import { decodeValue, encodeFrame, FrameDecoder } from '../../src/wire/codec.js';

const TOKEN = new Uint8Array(32).fill(7);
const OTHER_TOKEN = new Uint8Array(32).fill(9);
const MAX = 1024 * 1024;

/** What the fake daemon does with each message it receives: frames to send, or `close`. */
type Script = (message: Record<string, unknown>, socket: Socket) => void;

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

/** A TCP listener on 127.0.0.1 that runs `script` on every frame it gets. */
async function listener(script: Script): Promise<{ host: string; port: number; address: string }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    const decoder = new FrameDecoder(MAX);
    socket.on('data', (chunk: Buffer) => decoder.push(chunk, (payload) => script(decodeValue(payload) as Record<string, unknown>, socket)));
  });
  const close = server.close.bind(server);
  server.close = ((callback?: (error?: Error) => void) => {
    for (const socket of sockets) socket.destroy();
    return close(callback);
  }) as typeof server.close;
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { host: '127.0.0.1', port, address: `127.0.0.1:${port}` };
}

function send(socket: Socket, message: unknown): void {
  socket.write(encodeFrame(message, MAX));
}

/** Shakes hands with `at`; resolves with the error it rejects with. */
async function failure(at: { host: string; port: number }, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Error> {
  const outcome = await shakeHands(
    { transport: 'tcp', host: at.host, port: at.port },
    { token: TOKEN, maxFrameBytes: MAX, timeoutMs: options.timeoutMs ?? 10_000, signal: options.signal },
    () => ({ receive() {}, fail() {} }),
  ).then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(Error);
  return outcome as Error;
}

/** A refusal of our version as a daemon of protocol `v` sends it, signed over `signer`. */
function refusal(hello: Record<string, unknown>, signer: { token: Uint8Array; role: 'refusal' | 'daemon' } | undefined, code = 'ERR_PROTOCOL_VERSION') {
  const nonce = createNonce();
  return {
    t: 'error',
    id: null,
    e: { code, name: 'HandshakeError', message: 'The daemon speaks protocol 99' },
    v: 99,
    pid: 4242,
    ...(signer === undefined ? {} : { nonce, proof: computeProof(signer.token, signer.role, hello.nonce as Uint8Array, nonce) }),
  };
}

/** A challenge for `hello`, proven with `token`, of protocol `v`. */
function challenge(hello: Record<string, unknown>, token: Uint8Array, v = PROTOCOL_VERSION) {
  const nonce = createNonce();
  return { t: 'challenge', v, pkg: '9.8.7', nonce, proof: computeProof(token, 'daemon', hello.nonce as Uint8Array, nonce) };
}

describe('the client handshake against a listener that plays a daemon', () => {
  it('says hello with its protocol version and a 32-byte nonce', async () => {
    const hellos: Record<string, unknown>[] = [];
    const at = await listener((message, socket) => {
      hellos.push(message);
      socket.destroy();
    });
    await failure(at);
    expect(hellos).toHaveLength(1);
    expect(hellos[0]).toMatchObject({ t: 'hello', v: PROTOCOL_VERSION });
    expect((hellos[0]!.nonce as Uint8Array).length).toBe(32);
    expect(hellos[0]!.observe).toBeUndefined();
  });

  it('a daemon of another version whose refusal is signed with our token: ERR_PROTOCOL_VERSION naming its pid and version', async () => {
    const at = await listener((hello, socket) => send(socket, refusal(hello, { token: TOKEN, role: 'refusal' })));
    const error = await failure(at);
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error).toMatchObject({ code: 'ERR_PROTOCOL_VERSION', daemonPid: 4242 });
    expect(error.message).toBe(
      `The daemon at ${at.address} (pid 4242) speaks protocol 99; this client speaks ${PROTOCOL_VERSION}. Stop it with service.shutdown() (or let it idle out), then start it again with one version`,
    );
  });

  it.each([
    ['unsigned', undefined, 'ERR_PROTOCOL_VERSION'],
    ['signed with another token', { token: OTHER_TOKEN, role: 'refusal' as const }, 'ERR_PROTOCOL_VERSION'],
    ['signed as a challenge, not as a refusal', { token: TOKEN, role: 'daemon' as const }, 'ERR_PROTOCOL_VERSION'],
    ['signed, but not a version refusal', { token: TOKEN, role: 'refusal' as const }, 'ERR_DAEMON_DRAINING'],
  ])('a refusal %s is not believed: a plain ERR_HANDSHAKE naming what it said', async (_, signer, code) => {
    const at = await listener((hello, socket) => send(socket, refusal(hello, signer, code)));
    const error = await failure(at);
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error).toMatchObject({ code: 'ERR_HANDSHAKE' });
    expect(error.message).toBe(`The listener at ${at.address} refused the handshake without proving it is our daemon (${code}: The daemon speaks protocol 99)`);
  });

  it('a refusal whose message is long is cut to 200 characters in ours', async () => {
    const at = await listener((hello, socket) => send(socket, { ...refusal(hello, undefined), e: { code: 'ERR_X', name: 'Error', message: 'y'.repeat(300) } }));
    const error = await failure(at);
    expect(error.message).toBe(`The listener at ${at.address} refused the handshake without proving it is our daemon (ERR_X: ${'y'.repeat(200)})`);
  });

  it('a challenge proven with another token: ERR_AUTH_FAILED, it is not our daemon', async () => {
    const at = await listener((hello, socket) => send(socket, challenge(hello, OTHER_TOKEN)));
    const error = await failure(at);
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error).toMatchObject({ code: 'ERR_AUTH_FAILED' });
    expect(error.message).toBe(`The listener at ${at.address} could not prove it holds the token: it is not our daemon`);
  });

  it('our daemon, proven, of another version: ERR_PROTOCOL_VERSION naming both versions and its package; no auth sent', async () => {
    const received: string[] = [];
    const at = await listener((message, socket) => {
      received.push(message.t as string);
      if (message.t === 'hello') send(socket, challenge(message, TOKEN, PROTOCOL_VERSION + 1));
    });
    const error = await failure(at);
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error).toMatchObject({ code: 'ERR_PROTOCOL_VERSION' });
    expect(error.message).toBe(`The daemon at ${at.address} speaks protocol ${PROTOCOL_VERSION + 1} (package 9.8.7); this client speaks ${PROTOCOL_VERSION}`);
    expect(received).toEqual(['hello']);
  });

  it('our daemon refuses our proof and says why: its error, rebuilt by code', async () => {
    const auths: Record<string, unknown>[] = [];
    const at = await listener((message, socket) => {
      if (message.t === 'hello') send(socket, challenge(message, TOKEN));
      else {
        auths.push(message);
        send(socket, { t: 'error', id: null, e: { code: 'ERR_AUTH_FAILED', name: 'HandshakeError', message: 'no' } });
      }
    });
    const error = await failure(at);
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error).toMatchObject({ code: 'ERR_AUTH_FAILED', message: 'no' });
    expect(auths).toHaveLength(1);
    expect((auths[0]!.proof as Uint8Array).length).toBe(32);
  });

  it.each([
    ['a reply instead of a challenge', (_hello: Record<string, unknown>, socket: Socket) => send(socket, { t: 'reply', id: 1, v: 1 }), 'reply'],
    ['a welcome before any challenge', (_hello: Record<string, unknown>, socket: Socket) => send(socket, { t: 'welcome', info: {} }), 'welcome'],
  ])('%s: ERR_UNKNOWN_MESSAGE naming it', async (_, script, t) => {
    const at = await listener(script);
    const error = await failure(at);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code: 'ERR_UNKNOWN_MESSAGE' });
    expect(error.message).toBe(`Unexpected "${t}" during the handshake`);
  });

  it('a second challenge after our auth: ERR_UNKNOWN_MESSAGE naming it', async () => {
    const at = await listener((message, socket) => send(socket, challenge(message.t === 'hello' ? message : { nonce: createNonce() }, TOKEN)));
    const error = await failure(at);
    expect(error).toMatchObject({ code: 'ERR_UNKNOWN_MESSAGE', message: 'Unexpected "challenge" during the handshake' });
  });

  it('a frame that is no daemon message: the protocol error itself', async () => {
    const at = await listener((_, socket) => send(socket, { t: 'challenge', v: 'one' }));
    const error = await failure(at);
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error.message).toMatch(/challenge/);
  });

  it('a frame over the handshake cap (64 KiB) before the proof: ERR_FRAME_TOO_LARGE', async () => {
    const at = await listener((_, socket) => {
      const header = Buffer.alloc(4);
      header.writeUInt32BE(64 * 1024 + 1, 0);
      socket.write(header);
    });
    // The client's own cap (1 MiB) applies only once the daemon has proved itself.
    const error = await failure(at);
    expect(error).toMatchObject({ code: 'ERR_FRAME_TOO_LARGE', message: 'Incoming frame announces 65537 bytes, over maxFrameBytes (65536)' });
  });

  it('a listener that closes while we wait for its challenge, or for its welcome: ERR_HANDSHAKE naming the phase', async () => {
    let at = await listener((_, socket) => socket.destroy());
    let error = await failure(at);
    expect(error).toBeInstanceOf(HandshakeError);
    expect(error.message).toBe(`The daemon at ${at.address} closed the connection during the handshake (challenge)`);
    at = await listener((message, socket) => (message.t === 'hello' ? send(socket, challenge(message, TOKEN)) : socket.destroy()));
    error = await failure(at);
    expect(error.message).toBe(`The daemon at ${at.address} closed the connection during the handshake (welcome)`);
  });

  it('a listener that never answers: ERR_CONNECTION_FAILED naming the budget and the phase', async () => {
    const at = await listener(() => {});
    const error = await failure(at, { timeoutMs: 150 });
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect(error.message).toBe(`No handshake with the daemon at ${at.address} within 150 ms (challenge)`);
  });

  it('nothing listening: ERR_CONNECTION_FAILED with the socket error as its cause', async () => {
    const at = await listener(() => {});
    await new Promise((resolve) => servers.pop()!.close(resolve));
    const error = await failure(at);
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect(error.message).toMatch(new RegExp(`^Cannot connect to the daemon at ${at.address}: .*ECONNREFUSED`));
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('the caller aborts, before or during: it rejects with the abort reason', async () => {
    const at = await listener(() => {});
    const reason = new Error('given up');
    expect(await failure(at, { signal: AbortSignal.abort(reason) })).toBe(reason);
    const controller = new AbortController();
    const pending = failure(at, { signal: controller.signal });
    setTimeout(() => controller.abort(reason), 20);
    expect(await pending).toBe(reason);
  });
});
