/**
 * Frame writes, batched per tick, for both ends of a connection. A frame that nothing else is
 * in flight with ({@link FrameWriter.writeAlone}, a sequential caller's request) is written at
 * once: a caller that waits for one reply pays for no buffering and no deferred flush. Other
 * frames (a pipelined burst of calls, replies, events, stream items) wait for the end of the
 * tick and leave together in ONE write: a small batch joined into one buffer, a large one as a
 * writev (joining would copy its payloads).
 *
 * The daemon also holds its writes while it handles one incoming chunk ({@link hold},
 * {@link release}): the replies to the calls of that chunk leave together when it is done,
 * with no deferred flush at all.
 */
import type { Socket } from 'node:net';

/**
 * A batch of frames up to this many bytes is joined into one buffer and written with one
 * `write`; a larger one leaves corked, as one `writev`. On loopback TCP one write of a joined
 * batch of 64 small frames beat the writev of the same 64 buffers by 18-30 % in a raw echo
 * (docs/PERFORMANCE.md, "What the profiles led to", Writes), and joining a few KiB costs next to nothing.
 */
export const JOIN_LIMIT_BYTES = 64 * 1024;

// Bound once: scheduling the end of a tick must not allocate a closure per write.
function endTick(writer: FrameWriter): void {
  writer.endTick();
}

/** Writes frames to one socket. */
export class FrameWriter {
  readonly #socket: Socket;
  /** Frames waiting for the end of the tick (or for release()), in order. */
  readonly #batch: Buffer[] = [];
  /** The bytes in {@link #batch}, so that {@link pendingBytes} costs no sum. */
  #batchBytes = 0;
  /** Whether the end of this tick is already scheduled to send the batch. */
  #endScheduled = false;
  /** Between hold() and release(): nothing leaves, even at the end of a tick. */
  #holding = false;
  /** A cluster daemon's fence: checked as each batch leaves; undefined (no check) elsewhere. */
  readonly #mayWrite: (() => boolean) | undefined;

  /**
   * `mayWrite`: asked right before each batch goes to the socket; when it says no, the batch
   * is dropped, unsent (a cluster daemon that no longer holds its lease never answers).
   */
  constructor(socket: Socket, mayWrite?: () => boolean) {
    this.#socket = socket;
    this.#mayWrite = mayWrite;
  }

  /** Writes one complete frame (header and payload in one buffer) at the end of this tick. */
  write(frame: Buffer): void {
    this.#batch.push(frame);
    this.#batchBytes += frame.length;
    if (!this.#endScheduled && !this.#holding) {
      this.#endScheduled = true;
      process.nextTick(endTick, this);
    }
  }

  /**
   * Writes a frame that nothing else is in flight with (a sequential caller's request): at
   * once, without scheduling the end of the tick. Frames already batched stay ahead of it.
   */
  writeAlone(frame: Buffer): void {
    if (this.#holding || this.#batch.length > 0 || this.#mayWrite !== undefined) this.write(frame);
    else this.#socket.write(frame);
  }

  /** Keeps the frames written from now on until {@link release}. */
  hold(): void {
    this.#holding = true;
  }

  /** Sends what was held (and batched): one write. */
  release(): void {
    this.#holding = false;
    this.#send();
  }

  /** The end of the tick: sends the batch, unless it is held. */
  endTick(): void {
    this.#endScheduled = false;
    if (!this.#holding) this.#send();
  }

  /**
   * Bytes written to this writer that the peer has not taken yet: those held, batched or
   * queued in the socket because the peer does not read. What a bound on a slow reader (the
   * daemon's events, ../daemon/events.ts) measures.
   */
  get pendingBytes(): number {
    return this.#batchBytes + this.#socket.writableLength;
  }

  /** Sends everything held or batched now (before ending the socket, for one). */
  flush(): void {
    this.#holding = false;
    this.#send();
  }

  #send(): void {
    const batch = this.#batch;
    if (batch.length === 0) return;
    const socket = this.#socket;
    // Ended or destroyed meanwhile (in this tick), or fenced off: nothing more can leave.
    if (socket.writableEnded || socket.destroyed || (this.#mayWrite !== undefined && !this.#mayWrite())) {
      batch.length = 0;
      this.#batchBytes = 0;
      return;
    }
    if (batch.length === 1) socket.write(batch[0]!);
    else if (this.#batchBytes <= JOIN_LIMIT_BYTES) socket.write(Buffer.concat(batch, this.#batchBytes));
    else {
      socket.cork();
      for (const frame of batch) socket.write(frame);
      socket.uncork();
    }
    batch.length = 0;
    this.#batchBytes = 0;
  }
}
