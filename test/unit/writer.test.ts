import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FrameWriter, JOIN_LIMIT_BYTES } from '../../src/wire/writer.js';

/** What the writer did to its socket, in order: each write's bytes, and cork/uncork. */
type Op = { readonly write: Buffer } | 'cork' | 'uncork';

function fakeSocket(): { socket: Socket; ops: Op[]; state: { writableEnded: boolean; destroyed: boolean; writableLength: number } } {
  const ops: Op[] = [];
  const state = { writableEnded: false, destroyed: false, writableLength: 0 };
  const socket = {
    write: (chunk: Buffer) => {
      ops.push({ write: Buffer.from(chunk) });
      return true;
    },
    cork: () => ops.push('cork'),
    uncork: () => ops.push('uncork'),
    get writableEnded() {
      return state.writableEnded;
    },
    get destroyed() {
      return state.destroyed;
    },
    get writableLength() {
      return state.writableLength;
    },
  };
  return { socket: socket as unknown as Socket, ops, state };
}

const endOfTick = () => new Promise<void>((resolve) => process.nextTick(resolve));
const frame = (text: string) => Buffer.from(text);
const writes = (ops: readonly Op[]) => ops.map((op) => (typeof op === 'string' ? op : op.write.toString()));

describe('FrameWriter', () => {
  it('with a fence: asks it as each batch leaves, and drops the batch unsent when it says no', async () => {
    const { socket, ops } = fakeSocket();
    let held = true;
    let asked = 0;
    const writer = new FrameWriter(socket, () => {
      asked++;
      return held;
    });
    writer.writeAlone(frame('a'));
    writer.write(frame('b'));
    expect(ops).toEqual([]);
    await endOfTick();
    expect(writes(ops)).toEqual(['ab']);
    expect(asked).toBe(1);
    held = false;
    writer.write(frame('c'));
    writer.hold();
    writer.write(frame('d'));
    writer.release();
    writer.writeAlone(frame('e'));
    writer.flush();
    await endOfTick();
    expect(writes(ops)).toEqual(['ab']);
    expect(writer.pendingBytes).toBe(0);
  });

  it('writes a frame sent alone at once', () => {
    const { socket, ops } = fakeSocket();
    new FrameWriter(socket).writeAlone(frame('a'));
    expect(writes(ops)).toEqual(['a']);
  });

  it('sends the frames of one tick at its end, joined into one write, in order', async () => {
    const { socket, ops } = fakeSocket();
    const writer = new FrameWriter(socket);
    writer.write(frame('a'));
    writer.write(frame('b'));
    writer.write(frame('c'));
    expect(ops).toEqual([]);
    expect(writer.pendingBytes).toBe(3);
    await endOfTick();
    expect(writes(ops)).toEqual(['abc']);
    expect(writer.pendingBytes).toBe(0);
  });

  it('sends a batch over the join limit as one corked writev of the frames as they are', async () => {
    const { socket, ops } = fakeSocket();
    const writer = new FrameWriter(socket);
    const big = Buffer.alloc(JOIN_LIMIT_BYTES, 1);
    writer.write(frame('a'));
    writer.write(big);
    await endOfTick();
    expect(ops.length).toBe(4);
    expect(ops[0]).toBe('cork');
    expect(writes([ops[1]!])).toEqual(['a']);
    expect((ops[2] as { write: Buffer }).write.equals(big)).toBe(true);
    expect(ops[3]).toBe('uncork');
  });

  it('keeps a frame sent alone behind the frames already batched', async () => {
    const { socket, ops } = fakeSocket();
    const writer = new FrameWriter(socket);
    writer.write(frame('a'));
    writer.writeAlone(frame('b'));
    expect(ops).toEqual([]);
    await endOfTick();
    expect(writes(ops)).toEqual(['ab']);
  });

  it('holds every frame until release(), even past the end of a tick, then sends them in one write', async () => {
    const { socket, ops } = fakeSocket();
    const writer = new FrameWriter(socket);
    writer.hold();
    writer.write(frame('a'));
    writer.writeAlone(frame('b'));
    await endOfTick();
    expect(ops).toEqual([]);
    writer.release();
    expect(writes(ops)).toEqual(['ab']);
    await endOfTick();
    expect(writes(ops)).toEqual(['ab']);
  });

  it('sends everything at once on flush()', () => {
    const { socket, ops } = fakeSocket();
    const writer = new FrameWriter(socket);
    writer.write(frame('a'));
    writer.hold();
    writer.write(frame('b'));
    writer.flush();
    expect(writes(ops)).toEqual(['ab']);
  });

  it('drops the batch of a socket ended or destroyed before the end of the tick', async () => {
    for (const field of ['writableEnded', 'destroyed'] as const) {
      const { socket, ops, state } = fakeSocket();
      const writer = new FrameWriter(socket);
      writer.write(frame('a'));
      state[field] = true;
      await endOfTick();
      expect(ops).toEqual([]);
      expect(writer.pendingBytes).toBe(0);
    }
  });

  it('counts the bytes the socket still queues in pendingBytes', () => {
    const { socket, state } = fakeSocket();
    const writer = new FrameWriter(socket);
    state.writableLength = 10;
    writer.hold();
    writer.write(frame('abc'));
    expect(writer.pendingBytes).toBe(13);
  });
});
