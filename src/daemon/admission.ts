/**
 * The bound on connections that have proved nothing yet: at most
 * {@link MAX_HANDSHAKING_CONNECTIONS} wait for their handshake at once, and one more drops the
 * OLDEST, not the newcomer, so a flood cannot lock real clients out (a real handshake over
 * loopback takes ~1 ms). Each costs the daemon at most one partial frame of
 * HANDSHAKE_REQUEST_MAX_FRAME_BYTES (../wire/codec.ts).
 */
import type { DaemonConnection } from './connection.js';

/** How many connections may be waiting for their handshake at once. */
export const MAX_HANDSHAKING_CONNECTIONS = 64;

/** The connections accepted and not yet authenticated, oldest first. */
export class HandshakeAdmission {
  /** A Set iterates in insertion order: the first is the oldest. */
  readonly #waiting = new Set<DaemonConnection>();
  /** Dropped since the last {@link takeDropped}: logged once per sweep, not once each. */
  #dropped = 0;

  /** Admits a newly accepted connection, dropping the oldest waiting one if the bound is reached. */
  admit(connection: DaemonConnection): void {
    for (const waiting of this.#waiting) if (!waiting.isHandshaking) this.#waiting.delete(waiting);
    if (this.#waiting.size >= MAX_HANDSHAKING_CONNECTIONS) {
      const [oldest] = this.#waiting;
      this.#waiting.delete(oldest!);
      oldest!.destroy();
      this.#dropped++;
    }
    this.#waiting.add(connection);
  }

  /** How many connections were dropped since the last call. */
  takeDropped(): number {
    const dropped = this.#dropped;
    this.#dropped = 0;
    return dropped;
  }
}
