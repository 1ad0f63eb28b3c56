/**
 * The handshake's effects, both halves side by side: the statecharts of
 * machines/client-handshake.machine.ts and machines/daemon-handshake.machine.ts with their
 * actions (sending frames, closing) and guards (the HMAC checks) provided, once per process.
 * The runtimes that feed them events are ../client/handshake.ts and ../daemon/handshake.ts;
 * the protocol is docs/PROTOCOL.md §3.
 */
import { clientHandshakeMachine, type ClientHandshakeOutput } from '../../machines/client-handshake.machine.js';
import { daemonHandshakeMachine } from '../../machines/daemon-handshake.machine.js';
import { ConnectionFailedError, errorFromWire, HandshakeError, ProtocolError, type WireError } from '../errors.js';
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '../version.js';
import { computeProof, verifyProof } from './auth.js';
import { encodeFrame } from './codec.js';
import type { ClientLink } from './handshake-links.js';
import type { ClientMessage } from './messages.js';
import { isNonce } from './parse.js';

function sendToDaemon(link: ClientLink, message: ClientMessage): void {
  link.socket.write(encodeFrame(message, link.maxFrameBytes));
}

/** The client's handshake, its effects provided. */
export const clientHandshake = clientHandshakeMachine.provide({
  actions: {
    sendHello: (_, { link }) => {
      sendToDaemon(link, { t: 'hello', v: PROTOCOL_VERSION, pkg: PACKAGE_VERSION, nonce: link.clientNonce, ...(link.observe ? { observe: true } : {}) });
    },
    sendAuth: (_, { link, challenge }) => {
      sendToDaemon(link, { t: 'auth', proof: computeProof(link.token, 'client', link.clientNonce, challenge.nonce) });
    },
  },
  guards: {
    isDaemonProof: (_, { link, challenge }) => verifyProof(link.token, 'daemon', link.clientNonce, challenge.nonce, challenge.proof),
    isSignedRefusal: (_, { link, refusal }) =>
      refusal.e.code === 'ERR_PROTOCOL_VERSION' &&
      refusal.nonce instanceof Uint8Array &&
      refusal.proof instanceof Uint8Array &&
      verifyProof(link.token, 'refusal', link.clientNonce, refusal.nonce, refusal.proof),
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
    sendChallenge: (_, { link, clientNonce, daemonNonce }) => {
      link.channel.send({
        t: 'challenge',
        v: PROTOCOL_VERSION,
        pkg: PACKAGE_VERSION,
        nonce: daemonNonce,
        proof: computeProof(link.token, 'daemon', clientNonce, daemonNonce),
      });
    },
    refuseVersion: (_, { link: { channel, token }, hello, daemonNonce }) => {
      const refusal: WireError = {
        code: 'ERR_PROTOCOL_VERSION',
        name: 'HandshakeError',
        message:
          `The daemon speaks protocol ${PROTOCOL_VERSION} (package ${PACKAGE_VERSION}); the client speaks ${hello.v}. ` +
          'Shut the daemon down (or let it idle out) and start it again with one version',
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
    refuseAuth: (_, { link }) => {
      link.channel.close({
        code: 'ERR_AUTH_FAILED',
        name: 'HandshakeError',
        message: "Authentication failed: the client does not hold this daemon's token",
      });
    },
    sendWelcome: (_, { link }) => {
      link.channel.send({ t: 'welcome', info: link.info() });
      link.channel.writer.flush();
    },
    refuseInvalid: (_, { link, error }) => link.channel.protocolFailure(error),
    refuseUnexpected: (_, { link, t }) =>
      link.channel.protocolFailure(new ProtocolError(`Message "${t}" is not allowed during the handshake`, { code: 'ERR_UNKNOWN_MESSAGE' })),
    refuseNonce: (_, { link }) => link.channel.protocolFailure(new ProtocolError('Invalid message: `hello.nonce` must be 32 bytes')),
    drop: (_, { link, reason }) => link.channel.destroy(reason),
  },
  guards: {
    isClientProof: (_, { link, clientNonce, daemonNonce, proof }) => verifyProof(link.token, 'client', clientNonce, daemonNonce, proof),
  },
});
