/**
 * The bound on connections that have proved nothing yet: at most
 * {@link MAX_HANDSHAKING_CONNECTIONS} wait for their handshake at once, and one more evicts the
 * OLDEST, not the newcomer, so a flood cannot lock real clients out (a real handshake over
 * loopback takes ~1 ms). Each costs the daemon at most one partial frame of
 * HANDSHAKE_REQUEST_MAX_FRAME_BYTES (../wire/codec.ts).
 */

/** How many connections may be waiting for their handshake at once. */
export const MAX_HANDSHAKING_CONNECTIONS = 64;

/** A handshake under way, as the admission sees it. */
export interface PendingHandshake {
  /** Drops it without a message (its statechart's `admission.evicted`). */
  evict(): void;
  /** Drops it; `reason` goes to the log. */
  drop(reason: string): void;
}

/** The handshakes under way, oldest first. */
export class HandshakeAdmission<H extends PendingHandshake = PendingHandshake> {
  /** A Set iterates in insertion order: the first is the oldest. */
  readonly #waiting = new Set<H>();
  /** Evicted since the last {@link takeDropped}: logged once per sweep, not once each. */
  #dropped = 0;

  /** Admits a newly accepted connection's handshake, evicting the oldest if the bound is reached. */
  admit(handshake: H): void {
    if (this.#waiting.size >= MAX_HANDSHAKING_CONNECTIONS) {
      const [oldest] = this.#waiting;
      this.#waiting.delete(oldest!);
      oldest!.evict();
      this.#dropped++;
    }
    this.#waiting.add(handshake);
  }

  /** The handshake ended, whichever way. */
  settled(handshake: H): void {
    this.#waiting.delete(handshake);
  }

  /** Drops every handshake under way (the daemon drains, or failed). */
  dropAll(reason: string): void {
    for (const handshake of [...this.#waiting]) handshake.drop(reason);
  }

  /** How many were evicted since the last call. */
  takeDropped(): number {
    const dropped = this.#dropped;
    this.#dropped = 0;
    return dropped;
  }
}
