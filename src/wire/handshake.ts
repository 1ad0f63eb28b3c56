/**
 * The handshake's effects, both halves side by side: the statecharts of
 * machines/handshake.machine.ts with their actions (sending frames, closing) and guards (the
 * HMAC checks) provided, once per process. The runtimes that feed them events are
 * ../client/handshake.ts and ../daemon/handshake.ts; the protocol is docs/PROTOCOL.md §3.
 */
import type { Socket } from 'node:net';
import { clientHandshakeMachine, daemonHandshakeMachine, type ClientHandshakeOutput } from '../../machines/handshake.machine.js';
import { ConnectionFailedError, errorFromWire, HandshakeError, ProtocolError, type WireError } from '../errors.js';
import type { DaemonInfo } from '../types.js';
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '../version.js';
import { computeProof, type ProofKey, verifyProof } from './auth.js';
import { encodeFrame } from './codec.js';
import { isNonce, type ClientMessage, type DaemonMessage } from './messages.js';

/** What the client's effects work on: the machine's `link`. */
export interface ClientLink {
  readonly socket: Socket;
  readonly token: ProofKey;
  readonly clientNonce: Uint8Array;
  readonly maxFrameBytes: number;
  /** Connect as an observer (see HelloMessage.observe). */
  readonly observe: boolean;
}

/** What the daemon's effects work on: the machine's `link` (one accepted socket, framed). */
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

function sendToDaemon(link: ClientLink, message: ClientMessage): void {
  link.socket.write(encodeFrame(message, link.maxFrameBytes));
}

/** The client's handshake, its effects provided. */
export const clientHandshake = clientHandshakeMachine.provide({
  actions: {
    sendHello: (_, params) => {
      const link = params.link as ClientLink;
      sendToDaemon(link, { t: 'hello', v: PROTOCOL_VERSION, pkg: PACKAGE_VERSION, nonce: link.clientNonce, ...(link.observe ? { observe: true } : {}) });
    },
    sendAuth: (_, params) => {
      const link = params.link as ClientLink;
      sendToDaemon(link, { t: 'auth', proof: computeProof(link.token, 'client', link.clientNonce, params.challenge.nonce) });
    },
  },
  guards: {
    isDaemonProof: (_, params) => {
      const link = params.link as ClientLink;
      return verifyProof(link.token, 'daemon', link.clientNonce, params.challenge.nonce, params.challenge.proof);
    },
    isSignedRefusal: (_, params) => {
      const link = params.link as ClientLink;
      const { refusal } = params;
      return (
        refusal.e.code === 'ERR_PROTOCOL_VERSION' &&
        refusal.nonce instanceof Uint8Array &&
        refusal.proof instanceof Uint8Array &&
        verifyProof(link.token, 'refusal', link.clientNonce, refusal.nonce, refusal.proof)
      );
    },
  },
});

/**
 * The error a client handshake that ended in final state `outcome` rejects with. Before the
 * daemon has proved it holds the token, a refusal is believed only when it is a version
 * refusal signed with the token: anything else may come from a foreign listener, so it is a
 * plain (non-fatal) `ERR_HANDSHAKE` and the client treats the listener as stale.
 */
export function clientHandshakeError(outcome: string, output: ClientHandshakeOutput, address: string): Error {
  const { refusal, challenge, phase } = output;
  switch (outcome) {
    case 'unauthenticated':
      return new HandshakeError(`The listener at ${address} could not prove it holds the token: it is not our daemon`, { code: 'ERR_AUTH_FAILED' });
    case 'versionDiffers':
      return new HandshakeError(`The daemon at ${address} speaks protocol ${challenge!.v} (package ${String(challenge!.pkg)}); this client speaks ${PROTOCOL_VERSION}`, {
        code: 'ERR_PROTOCOL_VERSION',
      });
    case 'versionRefused':
      return new HandshakeError(
        `The daemon at ${address} (pid ${String(refusal!.pid)}) speaks protocol ${String(refusal!.v)}; this client speaks ${PROTOCOL_VERSION}. ` +
          'Stop it with service.shutdown() (or let it idle out), then start it again with one version',
        { code: 'ERR_PROTOCOL_VERSION', daemonPid: typeof refusal!.pid === 'number' ? refusal!.pid : undefined },
      );
    case 'refusedUnproven':
      return new HandshakeError(
        `The listener at ${address} refused the handshake without proving it is our daemon (${String(refusal!.e.code)}: ${String(refusal!.e.message).slice(0, 200)})`,
      );
    case 'rejected':
      return errorFromWire(refusal!.e);
    case 'unexpected':
      return new ProtocolError(`Unexpected "${String(output.unexpected)}" during the handshake`, { code: 'ERR_UNKNOWN_MESSAGE' });
    case 'malformed':
    case 'aborted':
      return output.error as Error;
    case 'unreachable': {
      const error = output.error as Error;
      return new ConnectionFailedError(`Cannot connect to the daemon at ${address}: ${error.message}`, { cause: error });
    }
    case 'closed':
      return new HandshakeError(`The daemon at ${address} closed the connection during the handshake (${phase})`);
    default: // timedOut
      return new ConnectionFailedError(`No handshake with the daemon at ${address} within ${output.timeoutMs} ms (${phase})`);
  }
}

/** The daemon's handshake, its effects provided. */
export const daemonHandshake = daemonHandshakeMachine.provide({
  actions: {
    sendChallenge: (_, params) => {
      const link = params.link as DaemonLink;
      link.channel.send({
        t: 'challenge',
        v: PROTOCOL_VERSION,
        pkg: PACKAGE_VERSION,
        nonce: params.daemonNonce,
        proof: computeProof(link.token, 'daemon', params.clientNonce, params.daemonNonce),
      });
    },
    refuseVersion: (_, params) => {
      const { channel, token } = params.link as DaemonLink;
      const { hello, daemonNonce } = params;
      const refusal: WireError = {
        code: 'ERR_PROTOCOL_VERSION',
        name: 'HandshakeError',
        message: `The daemon speaks protocol ${PROTOCOL_VERSION} (package ${PACKAGE_VERSION}); the client speaks ${hello.v}. Shut the daemon down (or let it idle out) and start it again with one version`,
      };
      // Signed when the client's nonce is readable, so the client can tell a genuine daemon
      // of another version (an error to report) from a foreign listener (stale, replace it).
      // Signed with a label of its own: anyone may ask for this proof over a nonce of their
      // choosing, so it must never verify as a challenge's.
      if (isNonce(hello.nonce)) {
        channel.send({
          t: 'error',
          id: null,
          e: refusal,
          v: PROTOCOL_VERSION,
          pid: process.pid,
          nonce: daemonNonce,
          proof: computeProof(token, 'refusal', hello.nonce, daemonNonce),
        });
        channel.close();
      } else {
        channel.close(refusal);
      }
    },
    refuseAuth: (_, params) => {
      (params.link as DaemonLink).channel.close({
        code: 'ERR_AUTH_FAILED',
        name: 'HandshakeError',
        message: "Authentication failed: the client does not hold this daemon's token",
      });
    },
    sendWelcome: (_, params) => {
      const link = params.link as DaemonLink;
      link.channel.send({ t: 'welcome', info: link.info() });
      link.channel.writer.flush();
    },
    refuseInvalid: (_, params) => (params.link as DaemonLink).channel.protocolFailure(params.error),
    refuseUnexpected: (_, params) =>
      (params.link as DaemonLink).channel.protocolFailure(
        new ProtocolError(`Message "${params.t}" is not allowed during the handshake`, { code: 'ERR_UNKNOWN_MESSAGE' }),
      ),
    refuseNonce: (_, params) => (params.link as DaemonLink).channel.protocolFailure(new ProtocolError('Invalid message: `hello.nonce` must be 32 bytes')),
    drop: (_, params) => (params.link as DaemonLink).channel.destroy(params.reason),
  },
  guards: {
    isClientProof: (_, params) => verifyProof((params.link as DaemonLink).token, 'client', params.clientNonce, params.daemonNonce, params.proof),
  },
});
