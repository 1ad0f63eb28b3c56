/**
 * The message union that travels inside frames, keyed on `t`. docs/PROTOCOL.md describes
 * the same shapes for implementers in other languages; keep the two in step.
 */
import type { WireError } from '../errors.js';
import type { DaemonInfo } from '../types.js';

/** Client -> daemon, first message: protocol version and the client's nonce. */
export interface HelloMessage {
  readonly t: 'hello';
  readonly v: number;
  readonly pkg: string;
  readonly nonce: Uint8Array;
  /**
   * An observer (a monitoring tool): its connection does not count as active, so watching a
   * daemon never keeps it alive or changes its state.
   */
  readonly observe?: boolean;
}

/** Daemon -> client: the daemon's nonce and its proof over both nonces. */
export interface ChallengeMessage {
  readonly t: 'challenge';
  readonly v: number;
  readonly pkg: string;
  readonly nonce: Uint8Array;
  readonly proof: Uint8Array;
}

/** Client -> daemon: the client's proof over both nonces. */
export interface AuthMessage {
  readonly t: 'auth';
  readonly proof: Uint8Array;
}

/** Daemon -> client: the handshake succeeded. */
export interface WelcomeMessage {
  readonly t: 'welcome';
  readonly info: DaemonInfo;
}

/** Client -> daemon: call `m` on the hosted object with arguments `a`. */
export interface CallMessage {
  readonly t: 'call';
  readonly id: number;
  readonly m: string;
  readonly a: readonly unknown[];
  /**
   * The caller's deadline, epoch ms on the shared host clock (`callTimeoutMs` / `timeoutMs`):
   * a call whose turn comes at or after it is not run.
   */
  readonly dl?: number;
}

/**
 * Client -> daemon: the caller of call `id` gave up (abort or timeout). A call still waiting
 * is withdrawn, never runs, and is answered `ERR_CALL_CANCELLED`; a running one sees its
 * `callSignal()` abort. No answer of its own; an unknown id is ignored.
 */
export interface CancelMessage {
  readonly t: 'cancel';
  readonly id: number;
}

/** Client -> daemon: ask for the daemon's live info. */
export interface PingMessage {
  readonly t: 'ping';
  readonly id: number;
}

/** Client -> daemon: drain and exit. */
export interface ShutdownMessage {
  readonly t: 'shutdown';
  readonly id: number;
  readonly force: boolean;
}

/**
 * Client -> daemon: send this connection the events the hosted object publishes on `topic`,
 * from the reply on. The request's `id` names the subscription (see {@link UnsubscribeMessage}).
 */
export interface SubscribeMessage {
  readonly t: 'subscribe';
  readonly id: number;
  readonly topic: string;
}

/** Client -> daemon: end subscription `sub` (the `id` of its `subscribe`). */
export interface UnsubscribeMessage {
  readonly t: 'unsubscribe';
  readonly id: number;
  readonly sub: number;
}

/** The reply to a `subscribe`. */
export interface SubscribeResult {
  /**
   * Events on this topic that this connection's earlier subscriptions to it missed (their
   * subscriber lagged) and had not yet been told of; 0 when there are none.
   */
  readonly dropped: number;
}

/**
 * Daemon -> client: the hosted object published `d` on `topic`, to which this connection
 * subscribes. Not a reply: it has no id.
 */
export interface EventMessage {
  readonly t: 'event';
  readonly topic: string;
  readonly d: unknown;
  /**
   * Present only when > 0: how many events on `topic` this connection did not get since the
   * previous one it got, because it was not reading (see docs/PROTOCOL.md §4, Events).
   */
  readonly dropped?: number;
}

/** Daemon -> client: the result of request `id`. */
export interface ReplyMessage {
  readonly t: 'reply';
  readonly id: number;
  readonly r: unknown;
  /**
   * True when the method returned an async iterable: `r` is nil and call `id` is now a stream
   * (docs/PROTOCOL.md §4a): `item` frames follow as the client grants `credit`, then `end` or
   * an `error`.
   */
  readonly stream?: boolean;
}

/** Daemon -> client: the next item of stream `id`, one per credit granted. */
export interface ItemMessage {
  readonly t: 'item';
  readonly id: number;
  readonly v: unknown;
}

/** Daemon -> client: stream `id` is over (its iterator is done). */
export interface EndMessage {
  readonly t: 'end';
  readonly id: number;
}

/** Client -> daemon: stream `id` may send `n` more items. */
export interface CreditMessage {
  readonly t: 'credit';
  readonly id: number;
  readonly n: number;
}

/** Client -> daemon: the consumer of stream `id` is gone; end its iterator (`return()`). */
export interface StopMessage {
  readonly t: 'stop';
  readonly id: number;
}

/**
 * Daemon -> client: request `id` failed, or (with `id` null) the daemon is closing the
 * connection for the reason given.
 */
export interface ErrorMessage {
  readonly t: 'error';
  readonly id: number | null;
  readonly e: WireError;
  /**
   * Only on an `ERR_PROTOCOL_VERSION` refusal of a hello that carried a valid nonce: the
   * daemon's protocol version, pid, nonce and its proof over both nonces, so the client can
   * check that a daemon of ours (not a foreign listener) refused it.
   */
  readonly v?: number;
  readonly pid?: number;
  readonly nonce?: Uint8Array;
  readonly proof?: Uint8Array;
}

/** Every message a client may send. */
export type ClientMessage =
  | HelloMessage
  | AuthMessage
  | CallMessage
  | CancelMessage
  | PingMessage
  | ShutdownMessage
  | SubscribeMessage
  | UnsubscribeMessage
  | CreditMessage
  | StopMessage;
/** Every message a daemon may send. */
export type DaemonMessage = ChallengeMessage | WelcomeMessage | ReplyMessage | ErrorMessage | EventMessage | ItemMessage | EndMessage;

/** Length in bytes of each side's handshake nonce. */
export const NONCE_BYTES = 32;
