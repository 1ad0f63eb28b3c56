/**
 * Frame writes, batched per tick, for both ends of a connection. The first frame of a tick is
 * written at once (a client's request alone in flight skips even the end-of-tick hook): a
 * caller that waits for one reply pays for no buffering and no deferred flush. Further frames in the same tick (a pipelined burst of calls, a batch of replies) are
 * corked and leave together at the end of the tick, in one writev.
 *
 * The daemon also holds its writes while it handles one incoming chunk ({@link hold},
 * {@link release}): the replies to the calls of that chunk leave together when it is done,
 * with no deferred flush at all.
 */
import type { Socket } from 'node:net';

// Bound once: scheduling the end of a tick must not allocate a closure per write.
function endTick(writer: FrameWriter): void {
  writer.flush();
}

/** Writes frames to one socket. */
export class FrameWriter {
  readonly #socket: Socket;
  /** Frames written since the tick began; more than one means the socket is corked. */
  #framesThisTick = 0;
  /** Between hold() and release(): the frames written meanwhile, in order. */
  #holding = false;
  readonly #held: Buffer[] = [];
  /** The bytes in {@link #held}, so that {@link pendingBytes} costs no sum. */
  #heldBytes = 0;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** Writes one complete frame (header and payload in one buffer). */
  write(frame: Buffer): void {
    if (this.#holding) {
      this.#held.push(frame);
      this.#heldBytes += frame.length;
      return;
    }
    if (this.#framesThisTick === 0) process.nextTick(endTick, this);
    else if (this.#framesThisTick === 1) this.#socket.cork();
    this.#framesThisTick++;
    this.#socket.write(frame);
  }

  /**
   * Writes a frame that nothing else is in flight with (a sequential caller's request): at
   * once, without scheduling the end of the tick. Frames already batched stay ahead of it.
   */
  writeAlone(frame: Buffer): void {
    if (this.#holding) {
      this.#held.push(frame);
      this.#heldBytes += frame.length;
    } else this.#socket.write(frame);
  }

  /** Keeps the frames written from now on until {@link release}. */
  hold(): void {
    this.#holding = true;
  }

  /** Writes the held frames: one write, or one writev for several. */
  release(): void {
    this.#holding = false;
    const held = this.#held;
    if (held.length === 0) return;
    if (held.length === 1) {
      this.#socket.write(held[0]!);
    } else {
      this.#socket.cork();
      for (const frame of held) this.#socket.write(frame);
      this.#socket.uncork();
    }
    held.length = 0;
    this.#heldBytes = 0;
  }

  /**
   * Bytes written to this writer that the peer has not taken yet: those held, batched (corked)
   * or queued in the socket because the peer does not read. What a bound on a slow reader
   * (the daemon's events, ../daemon/events.ts) measures.
   */
  get pendingBytes(): number {
    return this.#heldBytes + this.#socket.writableLength;
  }

  /** Sends everything held or batched now (before ending the socket, for one). */
  flush(): void {
    this.release();
    if (this.#framesThisTick > 1) this.#socket.uncork();
    this.#framesThisTick = 0;
  }
}
