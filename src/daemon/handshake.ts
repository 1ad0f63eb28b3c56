/**
 * One accepted socket's handshake on the daemon: the daemon handshake statechart
 * (machines/daemon-handshake.machine.ts, effects in ../wire/handshake.ts), fed with the frames the
 * channel cuts. When it ends authenticated, the channel's payloads (the rest of the chunk
 * being read included) go to a new DaemonConnection; every other ending has already answered
 * or dropped the peer.
 */
import { createActor, type Actor } from 'xstate';
import type { DaemonHandshakeEvent } from '../../machines/daemon-handshake.machine.js';
import { inspector } from '../inspect.js';
import type { DaemonInfo } from '../types.js';
import { PROTOCOL_VERSION } from '../version.js';
import { createNonce, type ProofKey } from '../wire/auth.js';
import { decodeValue } from '../wire/codec.js';
import { daemonHandshake } from '../wire/handshake.js';
import type { DaemonLink } from '../wire/handshake-links.js';
import { parseClientMessage } from '../wire/parse.js';
import type { Channel, Receiver } from './channel.js';

/** What a handshake needs from its daemon. */
export interface HandshakeHost {
  readonly name: string;
  /** The token as the HMAC key of every handshake (made once: ../wire/auth.ts). */
  readonly tokenKey: ProofKey;
  readonly handshakeTimeoutMs: number;
  info(): DaemonInfo;
  /** The handshake ended, whichever way (the admission forgets it). */
  settled(handshake: DaemonHandshake): void;
  /** The peer authenticated: the host opens the connection over `channel`. */
  authenticated(channel: Channel, observer: boolean): void;
}

/** The handshake of one accepted socket. */
export class DaemonHandshake implements Receiver, DaemonLink {
  readonly channel: Channel;
  readonly #host: HandshakeHost;
  readonly #actor: Actor<typeof daemonHandshake>;
  #settled = false;

  constructor(channel: Channel, host: HandshakeHost) {
    this.channel = channel;
    this.#host = host;
    this.#actor = createActor(daemonHandshake, {
      input: { link: this, timeoutMs: host.handshakeTimeoutMs, protocolVersion: PROTOCOL_VERSION, daemonNonce: createNonce() },
      inspect: inspector('handshake', host.name),
    });
    this.#actor.subscribe({ complete: () => this.#done() });
    channel.receiveWith(this);
    this.#actor.start();
  }

  get token(): ProofKey {
    return this.#host.tokenKey;
  }

  info(): DaemonInfo {
    return this.#host.info();
  }

  /** The oldest of too many awaiting their handshake: dropped without a message. */
  evict(): void {
    this.#send({ type: 'admission.evicted' });
  }

  /** Drops the socket (draining, failed); `reason` goes to the log. */
  drop(reason: string): void {
    this.channel.destroy(reason);
  }

  receive(payload: Buffer): void {
    let message: ReturnType<typeof parseClientMessage>;
    try {
      message = parseClientMessage(decodeValue(payload));
    } catch (error) {
      this.#send({ type: 'frame.invalid', error });
      return;
    }
    if (message.t === 'hello') this.#send({ type: 'frame.hello', message });
    else if (message.t === 'auth') this.#send({ type: 'frame.auth', proof: message.proof });
    else this.#send({ type: 'frame.unexpected', t: message.t });
  }

  fail(error: unknown): void {
    this.#send({ type: 'frame.invalid', error });
  }

  closed(): void {
    this.#send({ type: 'socket.closed' });
  }

  #send(event: DaemonHandshakeEvent): void {
    if (!this.#settled) this.#actor.send(event);
  }

  #done(): void {
    this.#settled = true;
    this.#host.settled(this);
    const snapshot = this.#actor.getSnapshot();
    if (snapshot.value === 'authenticated') this.#host.authenticated(this.channel, snapshot.output!.observer);
  }
}
