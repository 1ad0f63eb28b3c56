/**
 * Frame writes, batched per tick, for both ends of a connection. The first frame of a tick is
 * written at once: a caller that waits for one reply pays for no buffering and no deferred
 * flush. Further frames in the same tick (a pipelined burst of calls, a batch of replies) are
 * corked and leave together at the end of the tick, in one writev.
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

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** Writes one complete frame (header and payload in one buffer). */
  write(frame: Buffer): void {
    if (this.#framesThisTick === 0) process.nextTick(endTick, this);
    else if (this.#framesThisTick === 1) this.#socket.cork();
    this.#framesThisTick++;
    this.#socket.write(frame);
  }

  /** Sends what this tick has batched now (before ending the socket, for one). */
  flush(): void {
    if (this.#framesThisTick > 1) this.#socket.uncork();
    this.#framesThisTick = 0;
  }
}
