/**
 * What the handshake's effects work on, one side each: the `link` the handshake statecharts
 * (machines/client-handshake.machine.ts, machines/daemon-handshake.machine.ts) carry in their
 * context and hand to their actions and guards, never looking inside. Types only, so the
 * machines can `import type` them and the effects in ./handshake.ts are typed without casts.
 */
import type { Socket } from 'node:net';
import type { WireError } from '../errors.js';
import type { DaemonInfo } from '../types.js';
import type { ProofKey } from './auth.js';
import type { DaemonMessage } from './messages.js';

/** What the client's effects work on: the socket, the token and the client's nonce. */
export interface ClientLink {
  readonly socket: Socket;
  readonly token: ProofKey;
  readonly clientNonce: Uint8Array;
  readonly maxFrameBytes: number;
  /** Connect as an observer (see HelloMessage.observe). */
  readonly observe: boolean;
}

/** What the daemon's effects work on: one accepted socket, framed, and the daemon's token. */
export interface DaemonLink {
  readonly channel: {
    send(message: DaemonMessage): void;
    close(reason?: WireError): void;
    destroy(reason?: string): void;
    protocolFailure(error: unknown): void;
    readonly writer: { flush(): void };
  };
  readonly token: ProofKey;
  /** The daemon as it is now, for the welcome. */
  info(): DaemonInfo;
}
