/**
 * Raw peers against a daemon served in this process (test/support/in-process.ts): what the
 * daemon's channel, handshake and connection (src/daemon/) answer to frames no client of ours
 * sends, and that each costs only its own connection (invariant 8). The floods and the
 * memory bounds are test/integration/hostile-peers.test.ts.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { closeRemote } from '../../src/client/proxy.js';
import { localSingleton } from '../../src/client/service.js';
import type { DaemonMetadata } from '../../src/types.js';
import { computeProof, createNonce } from '../../src/wire/auth.js';
import { decodeValue, encodeFrame, FrameDecoder } from '../../src/wire/codec.js';
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '../../src/version.js';
import { makeRoot, removeRoot, SERVICES, stopInProcessDaemons } from '../support/in-process.js';

vi.mock('../../src/client/daemon-process.js', async (load) => ({
  ...(await load<typeof import('../../src/client/daemon-process.js')>()),
  spawnDaemonProcess: (await import('../support/in-process.js')).spawnInProcess,
}));

const MAX = 1024 * 1024;

/** A TCP peer that speaks frames by hand. */
class Peer {
  readonly #decoder = new FrameDecoder(MAX);
  readonly #messages: Record<string, unknown>[] = [];
  readonly #waiters: Array<(message: Record<string, unknown>) => void> = [];
  readonly closed: Promise<void>;
  readonly socket: Socket;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) =>
      this.#decoder.push(chunk, (payload) => {
        const message = decodeValue(payload) as Record<string, unknown>;
        const waiter = this.#waiters.shift();
        if (waiter) waiter(message);
        else this.#messages.push(message);
      }),
    );
    socket.on('error', () => {});
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  send(message: unknown): void {
    this.socket.write(encodeFrame(message, MAX));
  }

  next(): Promise<Record<string, unknown>> {
    const ready = this.#messages.shift();
    return ready ? Promise.resolve(ready) : new Promise((resolve) => this.#waiters.push(resolve));
  }
}

const peers: Peer[] = [];
function open(metadata: DaemonMetadata): Promise<Peer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: metadata.host!, port: metadata.port! });
    socket.once('connect', () => {
      const peer = new Peer(socket);
      peers.push(peer);
      resolve(peer);
    });
    socket.once('error', reject);
  });
}

let root: string;
beforeEach(() => {
  root = makeRoot('lbs-hostile-');
});
afterEach(async () => {
  for (const peer of peers.splice(0)) peer.socket.destroy();
  await stopInProcessDaemons();
  removeRoot(root);
});

async function running() {
  const svc = localSingleton<{ inc(): number }>('svc', `${SERVICES}:Counter`, { runtimeDir: root });
  const counter = await svc.proxy();
  const metadata = JSON.parse(readFileSync(svc.paths.metadata, 'utf8')) as DaemonMetadata;
  const token = readFileSync(svc.paths.token);
  return { svc, counter, metadata, token };
}

describe('a daemon served in this process, met by raw peers', () => {
  it('a frame larger than a hello before authenticating: ERR_FRAME_TOO_LARGE, that connection closed, the others served', async () => {
    const { counter, metadata } = await running();
    const peer = await open(metadata);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(513, 0);
    peer.socket.write(header);
    expect(await peer.next()).toEqual({
      t: 'error',
      id: null,
      e: { code: 'ERR_FRAME_TOO_LARGE', name: 'ProtocolError', message: 'Incoming frame announces 513 bytes, over maxFrameBytes (512)' },
    });
    await peer.closed;
    expect(await counter.inc()).toBe(1);
    await closeRemote(counter);
  });

  it('a hello of another protocol version is refused naming both versions', async () => {
    const { counter, metadata } = await running();
    const peer = await open(metadata);
    peer.send({ t: 'hello', v: PROTOCOL_VERSION + 100, pkg: 'other', nonce: createNonce() });
    const refusal = await peer.next();
    expect(refusal).toMatchObject({
      t: 'error',
      id: null,
      v: PROTOCOL_VERSION,
      pid: process.pid,
      e: {
        code: 'ERR_PROTOCOL_VERSION',
        name: 'HandshakeError',
        message: `The daemon speaks protocol ${PROTOCOL_VERSION} (package ${PACKAGE_VERSION}); the client speaks ${PROTOCOL_VERSION + 100}. Shut the daemon down (or let it idle out) and start it again with one version`,
      },
    });
    await peer.closed;
    expect(await counter.inc()).toBe(1);
    await closeRemote(counter);
  });

  it('a wrong proof is refused with ERR_AUTH_FAILED; the right one is welcomed', async () => {
    const { counter, metadata, token } = await running();
    const bad = await open(metadata);
    bad.send({ t: 'hello', v: PROTOCOL_VERSION, pkg: 'test', nonce: createNonce() });
    expect((await bad.next()).t).toBe('challenge');
    bad.send({ t: 'auth', proof: new Uint8Array(32) });
    expect(await bad.next()).toEqual({
      t: 'error',
      id: null,
      e: { code: 'ERR_AUTH_FAILED', name: 'HandshakeError', message: "Authentication failed: the client does not hold this daemon's token" },
    });
    await bad.closed;

    const good = await open(metadata);
    const nonce = createNonce();
    good.send({ t: 'hello', v: PROTOCOL_VERSION, pkg: 'test', nonce });
    const challenge = await good.next();
    good.send({ t: 'auth', proof: computeProof(token, 'client', nonce, challenge.nonce as Uint8Array) });
    expect(await good.next()).toMatchObject({ t: 'welcome', info: expect.objectContaining({ pid: process.pid }) });
    expect(await counter.inc()).toBe(1);
    await closeRemote(counter);
  });

  it('after the handshake: a call whose arguments hold a map keyed by an array is refused alone; a second hello is unexpected', async () => {
    const { counter, metadata, token } = await running();
    const peer = await open(metadata);
    const nonce = createNonce();
    peer.send({ t: 'hello', v: PROTOCOL_VERSION, pkg: 'test', nonce });
    const challenge = await peer.next();
    peer.send({ t: 'auth', proof: computeProof(token, 'client', nonce, challenge.nonce as Uint8Array) });
    expect((await peer.next()).t).toBe('welcome');
    // {t: 'call', id: 7, m: 'echo', a: [{[1, 2]: 3}]}, by hand: a plain MessagePack map whose key is an array.
    const call = Buffer.from([
      0x84, 0xa1, 0x74, 0xa4, 0x63, 0x61, 0x6c, 0x6c, 0xa2, 0x69, 0x64, 0x07, 0xa1, 0x6d, 0xa4, 0x65, 0x63, 0x68, 0x6f, 0xa1, 0x61, 0x91, 0x81, 0x92, 0x01, 0x02, 0x03,
    ]);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(call.length, 0);
    peer.socket.write(Buffer.concat([header, call]));
    const refused = await peer.next();
    expect(refused).toMatchObject({ t: 'error', id: 7, e: { code: 'ERR_UNENCODABLE', name: 'ProtocolError' } });
    expect((refused.e as { message: string }).message).toMatch(/^The arguments of "echo" cannot be received: .*; the call was not run$/);
    // The connection goes on.
    peer.send({ t: 'call', id: 8, m: 'inc', a: [] });
    expect(await peer.next()).toMatchObject({ t: 'reply', id: 8, r: 1 });
    peer.send({ t: 'hello', v: PROTOCOL_VERSION, pkg: 'test', nonce: createNonce() });
    expect(await peer.next()).toMatchObject({
      t: 'error',
      id: null,
      e: { code: 'ERR_UNKNOWN_MESSAGE', message: 'Message "hello" is not allowed after the handshake' },
    });
    await peer.closed;
    expect(await counter.inc()).toBe(2);
    await closeRemote(counter);
  });

  it('an auth before any hello, and a call before authenticating, are refused as unexpected', async () => {
    const { metadata } = await running();
    const early = await open(metadata);
    early.send({ t: 'auth', proof: new Uint8Array(32) });
    expect(await early.next()).toEqual({
      t: 'error',
      id: null,
      e: { code: 'ERR_UNKNOWN_MESSAGE', name: 'ProtocolError', message: 'Message "auth" is not allowed during the handshake' },
    });
    await early.closed;
    const caller = await open(metadata);
    caller.send({ t: 'call', id: 1, m: 'inc', a: [] });
    expect(await caller.next()).toMatchObject({
      t: 'error',
      id: null,
      e: { code: 'ERR_UNKNOWN_MESSAGE', message: 'Message "call" is not allowed during the handshake' },
    });
    await caller.closed;
  });
});
