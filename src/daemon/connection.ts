/**
 * One authenticated client connection, daemon side: requests (call, ping, shutdown) over a
 * channel whose handshake (../wire/handshake.ts) completed, until either side closes. Any bad
 * input closes this connection only.
 */
import { ProtocolError, type WireError } from '../errors.js';
import { decodeValue, encodeFrame } from '../wire/codec.js';
import { locateRefusedKey } from '../wire/unencodable.js';
import { prepareValue } from '../wire/values.js';
import type { ClientMessage } from '../wire/messages.js';
import { parseClientMessage } from '../wire/parse.js';
import type { DaemonInfo } from '../types.js';
import type { Channel, Receiver } from './channel.js';
import { INSPECT_TOPIC } from '../events-link.js';
import type { EventHub, EventSubscriber } from './events.js';
import type { DaemonInspection } from './inspection.js';
import type { CallSink, Mailbox } from './mailbox.js';
import { isAsyncIterable, Streams } from './streams.js';

/** What a connection needs from its daemon. */
export interface ConnectionHost {
  readonly mailbox: Mailbox;
  /** The subscriptions to the hosted object's events (./events.ts). */
  readonly events: EventHub;
  /** What an observer subscribing to the inspection topic is told (./inspection.ts). */
  readonly inspection: DaemonInspection;
  /** What a `ping` is answered with. */
  pingInfo(): DaemonInfo;
  /** The connection is gone. */
  closed(connection: DaemonConnection): void;
  shutdownRequested(force: boolean): void;
}

/** An authenticated client connection on the daemon. */
export class DaemonConnection implements CallSink, Receiver, EventSubscriber {
  /** The framed socket it answers on. */
  readonly channel: Channel;
  readonly #host: ConnectionHost;
  /** An observer's connection never counts as active (see HelloMessage.observe). */
  readonly observer: boolean;
  /** Calls whose method returned an async iterable (./streams.ts). */
  readonly #streams: Streams;

  constructor(channel: Channel, host: ConnectionHost, observer: boolean) {
    this.channel = channel;
    this.#host = host;
    this.observer = observer;
    this.#streams = new Streams(this, host.mailbox);
  }

  replyOk(id: number, result: unknown): void {
    if (this.channel.isClosed) return;
    if (typeof result === 'object' && result !== null && isAsyncIterable(result)) {
      this.#streams.open(id, result);
      return;
    }
    let frame: Buffer;
    try {
      frame = encodeFrame({ t: 'reply', id, r: prepareValue(result, 'result') }, this.channel.maxFrameBytes);
    } catch (error) {
      // A result too large or not encodable becomes an error reply; the call did run.
      const unencodable = error instanceof ProtocolError && error.code === 'ERR_UNENCODABLE';
      this.replyError(id, {
        code: unencodable ? 'ERR_UNENCODABLE' : 'ERR_REPLY_TOO_LARGE',
        name: 'ProtocolError',
        message: `The method ran, but its result ${unencodable ? 'cannot' : 'could not'} be sent: ${(error as Error).message}`,
      });
      return;
    }
    this.channel.writer.write(frame);
  }

  replyError(id: number, error: WireError): void {
    if (this.channel.isClosed) return;
    let frame: Buffer;
    try {
      frame = encodeFrame({ t: 'error', id, e: error }, this.channel.maxFrameBytes);
    } catch {
      // The error itself is too large (a huge message or stack): send it cut down, small
      // enough for the smallest frame cap (1 KiB), so the caller always gets an answer.
      frame = encodeFrame(
        { t: 'error', id, e: { code: error.code, name: String(error.name).slice(0, 64), message: String(error.message).slice(0, 200) } },
        this.channel.maxFrameBytes,
      );
    }
    this.channel.writer.write(frame);
  }

  receive(payload: Buffer): void {
    let value: unknown;
    try {
      value = decodeValue(payload);
    } catch (error) {
      if (this.#refuseCall(payload)) return;
      throw error;
    }
    this.#onRequest(parseClientMessage(value));
  }

  fail(error: unknown): void {
    this.channel.protocolFailure(error);
  }

  closed(): void {
    this.#host.events.remove(this);
    // Orphaned streams: their iterators end, each in its turn.
    this.#streams.closeAll();
    this.#host.closed(this);
  }

  #onRequest(message: ClientMessage): void {
    switch (message.t) {
      case 'call':
        this.#host.mailbox.submit(this, message.id, message.m, message.a, message.dl);
        return;
      case 'cancel':
        this.#host.mailbox.cancel(this, message.id);
        return;
      case 'ping':
        this.channel.send({ t: 'reply', id: message.id, r: this.#host.pingInfo() });
        return;
      case 'shutdown':
        this.channel.send({ t: 'reply', id: message.id, r: { accepted: true } });
        this.channel.writer.flush();
        this.#host.shutdownRequested(message.force);
        return;
      // Answered at once, like a ping: events published after the reply was written reach it.
      case 'subscribe':
        this.channel.send({ t: 'reply', id: message.id, r: { dropped: this.#host.events.subscribe(this, message.id, message.topic) } });
        // An observer of the daemon's lifecycle starts from its recent history.
        if (message.topic === INSPECT_TOPIC) this.#host.inspection.subscribed(this.channel);
        return;
      case 'unsubscribe':
        this.#host.events.unsubscribe(this, message.sub);
        this.channel.send({ t: 'reply', id: message.id, r: null });
        return;
      case 'credit':
        this.#streams.credit(message.id, message.n);
        return;
      case 'stop':
        this.#streams.stop(message.id);
        return;
      default:
        throw new ProtocolError(`Message "${message.t}" is not allowed after the handshake`, { code: 'ERR_UNKNOWN_MESSAGE' });
    }
  }

  /**
   * A call our decoder refused for a map key that is not a scalar (a `Map` keyed by objects
   * among its arguments): that call alone is answered with `ERR_UNENCODABLE`, naming where
   * the key is, and never runs; the connection goes on. False when it is not such a call.
   */
  #refuseCall(payload: Buffer): boolean {
    const refused = locateRefusedKey(payload, true, 'call');
    if (refused === undefined) return false;
    this.replyError(refused.id, {
      code: 'ERR_UNENCODABLE',
      name: 'ProtocolError',
      message: `The arguments of ${JSON.stringify(String(refused.method).slice(0, 64))} cannot be received: ${refused.where}; the call was not run`,
    });
    return true;
  }
}
