/**
 * Hostile peers cost nothing: against real daemons, what an attacker on the same machine can
 * send (with or without the token) is refused on its own connection, stays within a bounded
 * cost, and never keeps real callers from being answered.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import type { DaemonMetadata } from '../../dist/src/types.js';
import { computeProof, createNonce, verifyProof } from '../../dist/src/wire/auth.js';
import { encodeFrame } from '../../dist/src/wire/codec.js';
import { service } from '../support/clients.js';
import { MAX_FRAME, rawHandshake, RawPeer, startDaemon } from '../support/daemon.js';
import { sleep } from '../support/wait.js';
import { PROTOCOL_VERSION } from '../../dist/src/version.js';

// The documented limits (docs/PROTOCOL.md §2, §3), written out rather than imported, so
// that a change of the code's constants shows here.
/** How many connections may await their handshake at once. */
const MAX_HANDSHAKING_CONNECTIONS = 64;
/** The largest frame the daemon reads before the peer has authenticated. */
const HANDSHAKE_REQUEST_MAX_FRAME_BYTES = 512;

interface Counter {
  inc(): Promise<number>;
  get(): Promise<number>;
  echo<T>(value: T): Promise<T>;
}

/** A `call` frame whose argument is a DAG of msgpackr structured-clone references: 2^depth leaves. */
function dagCallFrame(depth: number): Buffer {
  let node: unknown[] = [];
  for (let i = 0; i < depth; i++) node = [node, node];
  const payload = new Packr({ structuredClone: true, useRecords: false }).pack({ t: 'call', id: 1, m: 'echo', a: [node] });
  const header = Buffer.alloc(4);
  header.writeUInt32BE(payload.length, 0);
  return Buffer.concat([header, payload]);
}

/** The daemon's resident set size in bytes, from /proc. */
function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** A raw TCP connection, once connected. */
function openSocket(metadata: Pick<DaemonMetadata, 'host' | 'port'>): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: metadata.host!, port: metadata.port! });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** How many file descriptors the daemon holds (its listener, log, sockets, ...). */
function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

describe('a call carrying msgpackr references', () => {
  it('is refused with ERR_PROTOCOL on its own connection while other callers are answered', async () => {
    const svc = service<Counter>();
    const counter = await svc.proxy();
    const metadata = JSON.parse(readFileSync(svc.paths.metadata, 'utf8')) as DaemonMetadata;
    const token = readFileSync(svc.paths.token);
    const peer = await RawPeer.open(metadata);
    await rawHandshake(peer, token);
    const frame = dagCallFrame(25); // 2^25 leaves once expanded; a few hundred bytes on the wire
    expect(frame.length).toBeLessThan(600);

    const calls = Array.from({ length: 20 }, () => counter.inc());
    peer.write(frame);
    calls.push(...Array.from({ length: 20 }, () => counter.inc()));
    expect(await peer.next()).toMatchObject({ t: 'error', id: null, e: { code: 'ERR_PROTOCOL' } });
    await peer.closed;

    expect((await Promise.all(calls)).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    // The hostile call never reached the object, and the proxy's connection was not touched.
    expect(await counter.get()).toBe(40);
  });
});

describe('connections that do not authenticate', () => {
  it('may not announce a frame larger than a hello before authenticating', async () => {
    const daemon = await startDaemon();
    const peer = await RawPeer.open(daemon.metadata);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(HANDSHAKE_REQUEST_MAX_FRAME_BYTES + 1, 0);
    peer.write(header);
    expect(await peer.next()).toMatchObject({ t: 'error', id: null, e: { code: 'ERR_FRAME_TOO_LARGE' } });
    await peer.closed;
  });

  it('a hello of exactly the pre-handshake cap is read and answered', async () => {
    const daemon = await startDaemon();
    const peer = await RawPeer.open(daemon.metadata);
    const clientNonce = createNonce();
    const hello = (pkg: string) => encodeFrame({ t: 'hello', v: PROTOCOL_VERSION, pkg, nonce: clientNonce }, MAX_FRAME);
    const pad = HANDSHAKE_REQUEST_MAX_FRAME_BYTES - (hello('').length - 4);
    const frame = hello('p'.repeat(pad - 2)); // a str of 32..255 chars takes a 2-byte header
    expect(frame.length - 4).toBe(HANDSHAKE_REQUEST_MAX_FRAME_BYTES);
    peer.write(frame);
    const challenge = await peer.next();
    expect(challenge.t).toBe('challenge');
    peer.send({ t: 'auth', proof: computeProof(daemon.token, 'client', clientNonce, challenge.nonce as Uint8Array) });
    expect((await peer.next()).t).toBe('welcome');
  });

  it(`past ${MAX_HANDSHAKING_CONNECTIONS} awaiting their handshake, the oldest is dropped, and a real client still connects`, async () => {
    const daemon = await startDaemon({ handshakeTimeoutMs: 60_000 });
    const waiting: RawPeer[] = [];
    for (let i = 0; i < MAX_HANDSHAKING_CONNECTIONS; i++) waiting.push(await RawPeer.open(daemon.metadata));
    // Each holds a partial hello; the daemon has seen all of them once this ping is answered.
    for (const peer of waiting) peer.write(Buffer.from([0, 0, 0, 80, 0x84]));
    const witness = await daemon.connect();
    await witness.ping();
    const closedOnes = () => Promise.all(waiting.map((peer) => Promise.race([peer.closed.then(() => true), sleep(200).then(() => false)])));
    // The witness's own connection was the 65th: it pushed out the first.
    expect((await closedOnes()).map((closed, i) => (closed ? i : -1)).filter((i) => i >= 0)).toEqual([0]);

    // The witness has authenticated, so it no longer counts: one more fits without a drop.
    const late = await RawPeer.open(daemon.metadata);
    late.write(Buffer.from([0, 0, 0, 80]));
    await witness.ping();
    expect((await closedOnes()).filter(Boolean)).toHaveLength(1);
    // A real client completes its handshake however many are waiting; it pushes out the next oldest.
    const real = await daemon.connect();
    expect(await real.call('inc', [])).toBe(1);
    await waiting[1]!.closed;
    expect((await closedOnes()).filter(Boolean)).toHaveLength(2);
    expect((await witness.ping()).active).toBe(2);
  });

  it('a flood of 1500 connections each holding a partial frame leaves memory bounded and calls answered', { timeout: 60_000 }, async () => {
    // A handshake deadline (2 x connectTimeoutMs) far past the test: only the cap drops them.
    const svc = service<Counter>({ connectTimeoutMs: 15_000 });
    const counter = await svc.proxy();
    const { pid } = await svc.ping();
    const metadata = JSON.parse(readFileSync(svc.paths.metadata, 'utf8')) as DaemonMetadata;
    const rssBefore = rssBytes(pid);
    const fdsBefore = openFds(pid);
    // Half announce a frame just under the pre-handshake cap and send part of it (the cap on
    // waiting connections drops them); half do what the attack that found this did, 64 KiB
    // announced and 60 KiB sent (refused from the header).
    const partials = [
      Buffer.concat([Buffer.from([0, 0, 0x01, 0xf0]), Buffer.alloc(300, 0x90)]),
      Buffer.concat([Buffer.from([0, 1, 0, 0]), Buffer.alloc(60 * 1024, 0x90)]),
    ];

    const sockets: Socket[] = [];
    let dropped = 0;
    let flooding = true;
    const latencies: number[] = [];
    const caller = (async () => {
      while (flooding) {
        const started = performance.now();
        await counter.inc();
        latencies.push(performance.now() - started);
      }
    })();
    let peakRss = rssBefore;
    try {
      for (let batch = 0; batch < 30; batch++) {
        const opened = await Promise.all(Array.from({ length: 50 }, () => openSocket(metadata)));
        for (const socket of opened) {
          // Reading, so that each notices when the daemon drops it.
          socket.resume();
          socket.on('error', () => {});
          socket.once('close', () => dropped++);
          socket.write(partials[sockets.length % 2]!);
          sockets.push(socket);
        }
        peakRss = Math.max(peakRss, rssBytes(pid));
      }
      // Dropped ones close within the daemon's 1 s close grace.
      for (let waited = 0; dropped < sockets.length - MAX_HANDSHAKING_CONNECTIONS && waited < 5000; waited += 100) {
        await sleep(100);
        peakRss = Math.max(peakRss, rssBytes(pid));
      }
    } finally {
      flooding = false;
      await caller;
    }
    const droppedByDaemon = dropped;
    // A dropped socket's descriptor goes once the daemon's close grace is over: on a loaded
    // machine some are still closing when the client has seen its end.
    let fdsHeld = openFds(pid) - fdsBefore;
    for (let waited = 0; fdsHeld > MAX_HANDSHAKING_CONNECTIONS && waited < 5000; waited += 100) {
      await delay(100);
      fdsHeld = openFds(pid) - fdsBefore;
    }
    for (const socket of sockets) socket.destroy();

    const ms = median(latencies);
    console.log(
      `flood of ${sockets.length}: daemon RSS ${(rssBefore / 2 ** 20).toFixed(0)} -> peak ${(peakRss / 2 ** 20).toFixed(0)} MiB; ` +
        `${latencies.length} calls during it, median ${ms.toFixed(2)} ms, max ${Math.max(...latencies).toFixed(1)} ms; ${droppedByDaemon} dropped by the daemon, ${fdsHeld} held`,
    );
    expect(sockets).toHaveLength(1500);
    expect(peakRss).toBeLessThan(250 * 2 ** 20);
    // The daemon held at most MAX_HANDSHAKING_CONNECTIONS of them: it dropped the rest.
    expect(droppedByDaemon).toBeGreaterThanOrEqual(1500 - MAX_HANDSHAKING_CONNECTIONS);
    expect(fdsHeld).toBeLessThanOrEqual(MAX_HANDSHAKING_CONNECTIONS);
    // Calls were answered throughout (their latency is printed above: a figure, not a test).
    expect(latencies.length).toBeGreaterThanOrEqual(10);
    expect(await counter.get()).toBe(latencies.length);
  });
});

describe('an authenticated peer', () => {
  it('trickling one byte of a frame at a time is dropped once the frame is stallTimeoutMs old', async () => {
    const stallTimeoutMs = 1000;
    const daemon = await startDaemon({ stallTimeoutMs });
    const witness = await daemon.connect();
    const peer = await RawPeer.open(daemon.metadata);
    await rawHandshake(peer, daemon.token);
    const frame = encodeFrame({ t: 'call', id: 1, m: 'inc', a: [] }, MAX_FRAME);
    let sent = 0;
    let closed = false;
    void peer.closed.then(() => (closed = true));
    // A byte every 250 ms: progress four times per stallTimeoutMs, as before this rule, but the
    // frame (22 bytes) would take over 5 s to complete.
    while (!closed && sent < frame.length) {
      peer.write(frame.subarray(sent, sent + 1));
      sent++;
      await Promise.race([peer.closed, sleep(250)]);
    }
    expect(closed, 'the daemon dropped the trickling peer').toBe(true);
    expect(sent).toBeLessThan(frame.length);
    // Never ran, and no one else was affected.
    expect(await witness.call('get', [])).toBe(0);
    expect(readFileSync(daemon.paths.log, 'utf8')).toContain('partial frame stalled');
  });

  it('a frame that completes within stallTimeoutMs of its first byte is answered however it is split', async () => {
    const daemon = await startDaemon({ stallTimeoutMs: 1000 });
    const peer = await RawPeer.open(daemon.metadata);
    await rawHandshake(peer, daemon.token);
    const frames = [1, 2, 3].map((id) => encodeFrame({ t: 'call', id, m: 'inc', a: [] }, MAX_FRAME));
    // Chunks 400 ms apart, each ending one frame and starting the next: every frame completes
    // within ~400 ms of its first byte, the three take longer than stallTimeoutMs together,
    // so each frame's deadline must run from its own first byte.
    const chunks = [
      frames[0]!.subarray(0, 5),
      Buffer.concat([frames[0]!.subarray(5), frames[1]!.subarray(0, 5)]),
      Buffer.concat([frames[1]!.subarray(5), frames[2]!.subarray(0, 5)]),
      frames[2]!.subarray(5),
    ];
    for (const chunk of chunks) {
      peer.write(chunk);
      await sleep(400);
    }
    for (const id of [1, 2, 3]) expect(await peer.next()).toMatchObject({ t: 'reply', id, r: id });
  });
});

describe('the whole-frame deadline after a blocked event loop', () => {
  // A hosted method that blocks the daemon's event loop synchronously.
  const SPINNER = `data:text/javascript,${encodeURIComponent(
    'export class Spinner { n = 0; spin(ms) { const end = Date.now() + ms; while (Date.now() < end); return ms; } inc() { return ++this.n; } }',
  )}`;

  it('spares a frame whose rest arrived while a synchronous method ran', async () => {
    const daemon = await startDaemon({
      stallTimeoutMs: 1000,
      factory: { module: SPINNER, export: 'Spinner', argsHash: 'none', codeHash: undefined },
    });
    const witness = await daemon.connect();
    const peer = await RawPeer.open(daemon.metadata);
    await rawHandshake(peer, daemon.token);
    const frame = encodeFrame({ t: 'call', id: 1, m: 'inc', a: [] }, MAX_FRAME);
    peer.write(frame.subarray(0, 5));
    await sleep(100); // the daemon has read the frame's first bytes
    const spinning = witness.call('spin', [2000]);
    await sleep(300); // the daemon is blocked: the rest waits in its socket, unread
    peer.write(frame.subarray(5));
    expect(await spinning).toBe(2000);
    // The sweep that runs first after the block finds the frame 2 s old; the bytes read in the
    // same turn complete it, so the peer is answered, not dropped.
    expect(await peer.next()).toMatchObject({ t: 'reply', id: 1, r: 1 });
  });
});

describe('the signed version refusal', () => {
  it('verifies as a refusal proof and never as a challenge proof', async () => {
    const daemon = await startDaemon();
    const peer = await RawPeer.open(daemon.metadata);
    const clientNonce = createNonce();
    peer.send({ t: 'hello', v: PROTOCOL_VERSION + 1, pkg: 'future', nonce: clientNonce });
    const refusal = await peer.next();
    expect(refusal).toMatchObject({ t: 'error', id: null, e: { code: 'ERR_PROTOCOL_VERSION' }, pid: daemon.pid });
    const [nonce, proof] = [refusal.nonce as Uint8Array, refusal.proof as Uint8Array];
    expect(verifyProof(daemon.token, 'refusal', clientNonce, nonce, proof)).toBe(true);
    expect(verifyProof(daemon.token, 'daemon', clientNonce, nonce, proof)).toBe(false);
    await peer.closed;
  });
});
