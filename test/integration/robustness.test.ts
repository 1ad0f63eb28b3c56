import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { rawHandshake, RawPeer, startDaemon } from '../support/daemon.js';

describe('bad input costs only that connection', () => {
  it('an oversized frame header closes only that connection', async () => {
    const daemon = await startDaemon();
    const bystander = await daemon.connect();
    expect(await bystander.call('inc', [])).toBe(1);
    const peer = await RawPeer.open(daemon.metadata);
    await rawHandshake(peer, daemon.token);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(0xffffffff, 0);
    peer.write(header);
    expect(await peer.next()).toMatchObject({ t: 'error', id: null, e: { code: 'ERR_FRAME_TOO_LARGE' } });
    await peer.closed;
    expect(await bystander.call('inc', [])).toBe(2);
    expect((await bystander.ping()).active).toBe(1);
  });

  it('before authenticating, a peer may not announce more than a handshake-sized frame', async () => {
    const daemon = await startDaemon();
    const bystander = await daemon.connect();
    const peer = await RawPeer.open(daemon.metadata);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1024 * 1024, 0); // far below maxFrameBytes (16 MiB), far above a hello
    peer.write(header);
    expect(await peer.next()).toMatchObject({ t: 'error', id: null, e: { code: 'ERR_FRAME_TOO_LARGE' } });
    await peer.closed;
    // Authenticated, the same size is an ordinary call.
    const big = 'x'.repeat(1024 * 1024);
    expect(await bystander.call('echo', [big])).toBe(big);
  });

  it('garbage bytes before the handshake close only that connection', async () => {
    const daemon = await startDaemon();
    const bystander = await daemon.connect();
    const peer = await RawPeer.open(daemon.metadata);
    const garbage = randomBytes(64);
    garbage.writeUInt32BE(60, 0); // a plausible header, then random payload
    peer.write(garbage);
    expect(await peer.next()).toMatchObject({ t: 'error', id: null, e: { code: expect.stringMatching(/^ERR_(PROTOCOL|UNKNOWN_MESSAGE)$/) } });
    await peer.closed;
    expect(await bystander.call('inc', [])).toBe(1);
  });

  it('an unknown message type after the handshake closes only that connection', async () => {
    const daemon = await startDaemon();
    const bystander = await daemon.connect();
    const peer = await RawPeer.open(daemon.metadata);
    await rawHandshake(peer, daemon.token);
    peer.send({ t: 'bogus', id: 1 });
    expect(await peer.next()).toMatchObject({ t: 'error', id: null, e: { code: 'ERR_UNKNOWN_MESSAGE' } });
    await peer.closed;
    expect(await bystander.call('inc', [])).toBe(1);
    expect((await bystander.ping()).active).toBe(1);
  });

  it('a malformed call (arguments not an array) closes only that connection', async () => {
    const daemon = await startDaemon();
    const bystander = await daemon.connect();
    const peer = await RawPeer.open(daemon.metadata);
    await rawHandshake(peer, daemon.token);
    peer.send({ t: 'call', id: 1, m: 'inc', a: 'not-an-array' });
    expect(await peer.next()).toMatchObject({ t: 'error', id: null, e: { code: 'ERR_PROTOCOL' } });
    await peer.closed;
    expect(await bystander.call('get', [])).toBe(0);
  });
});
