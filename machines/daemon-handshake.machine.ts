/**
 * The mutual handshake (docs/PROTOCOL.md §3), daemon side; the client's half is
 * ./client-handshake.machine.ts. A pure definition: src/wire/handshake.ts provides the effects
 * (sending frames, the HMAC check, answering or dropping the peer) once per process with
 * `.provide()`. Frames come in as events (the runtime decodes each and sends `frame.<kind>`);
 * what the effects work on (the framed socket, the token) comes in through `input` and lives
 * in context, handed to them as `link`.
 *
 *   awaitingHello -(hello / challenge)-> awaitingAuth -(auth, proof good / welcome)-> authenticated
 *
 * Every other ending is a final state of its own, named for what happened; the effects answer
 * (or drop) the peer on the way there. The deadline (`handshakeTimeout`: `handshakeTimeoutMs`
 * from accept) is an `after` of the root.
 */
import { assign, setup } from 'xstate';
import type { DaemonLink } from '../src/wire/handshake-links.js';
import type { HelloMessage } from '../src/wire/messages.js';
import { isNonce } from '../src/wire/parse.js';

/** What the daemon machine is told at accept. */
export interface DaemonHandshakeInput {
  /** What its effects work on (the framed socket, the token); the chart never looks inside. */
  readonly link: DaemonLink;
  /** `handshakeTimeoutMs`, from accept. */
  readonly timeoutMs: number;
  readonly protocolVersion: number;
  /** A fresh daemon nonce, for the challenge (or a signed refusal). */
  readonly daemonNonce: Uint8Array;
}

/** The daemon machine's context. */
export interface DaemonHandshakeContext extends DaemonHandshakeInput {
  /** The client's nonce, from its hello. */
  readonly clientNonce: Uint8Array | undefined;
  /** An observer's connection never counts as active (see HelloMessage.observe). */
  readonly observer: boolean;
}

/** What an authenticated handshake hands on. */
export interface DaemonHandshakeOutput {
  readonly observer: boolean;
}

/** The daemon's events: decoded frames, socket loss, the admission's eviction. */
export type DaemonHandshakeEvent =
  | { type: 'frame.hello'; message: HelloMessage }
  | { type: 'frame.auth'; proof: Uint8Array }
  /** A well-formed client message not allowed during the handshake (call, ping, shutdown). */
  | { type: 'frame.unexpected'; t: string }
  | { type: 'frame.invalid'; error: unknown }
  | { type: 'socket.closed' }
  /** Over the bound on connections awaiting their handshake, this one is the oldest. */
  | { type: 'admission.evicted' };

const refuseUnexpected = (t: string) => ({
  target: 'unexpected' as const,
  actions: { type: 'refuseUnexpected' as const, params: ({ context }: { context: DaemonHandshakeContext }) => ({ link: context.link, t }) },
});

/** The daemon side: proves itself first, then checks the client's proof. */
export const daemonHandshakeMachine = setup({
  types: {
    context: {} as DaemonHandshakeContext,
    input: {} as DaemonHandshakeInput,
    output: {} as DaemonHandshakeOutput,
    events: {} as DaemonHandshakeEvent,
  },
  actions: {
    /** Sends `challenge` with the daemon's nonce and proof. */
    sendChallenge: (_, _params: { link: DaemonLink; clientNonce: Uint8Array; daemonNonce: Uint8Array }) => {},
    /** Refuses a hello of another version, signed over its nonce when it has one, and closes. */
    refuseVersion: (_, _params: { link: DaemonLink; hello: HelloMessage; daemonNonce: Uint8Array }) => {},
    /** Sends `ERR_AUTH_FAILED` and closes. */
    refuseAuth: (_, _params: { link: DaemonLink }) => {},
    /** Sends `welcome` (the daemon as it is now) and flushes. */
    sendWelcome: (_, _params: { link: DaemonLink }) => {},
    /** Logs and closes with the protocol error (ERR_PROTOCOL, ERR_FRAME_TOO_LARGE...). */
    refuseInvalid: (_, _params: { link: DaemonLink; error: unknown }) => {},
    /** Logs and closes with ERR_UNKNOWN_MESSAGE. */
    refuseUnexpected: (_, _params: { link: DaemonLink; t: string }) => {},
    /** Logs and closes: the hello's nonce is not 32 bytes. */
    refuseNonce: (_, _params: { link: DaemonLink }) => {},
    /** Destroys the socket without a message; `reason`, if given, goes to the log. */
    drop: (_, _params: { link: DaemonLink; reason?: string }) => {},
  },
  guards: {
    speaksOurVersion: ({ context }, params: { v: number }) => params.v === context.protocolVersion,
    /** The hello's nonce is bytes of the right length (32). */
    hasNonce: (_, params: { nonce: unknown }) => isNonce(params.nonce),
    /** The auth's proof verifies as the client's over both nonces. */
    isClientProof: (_, _params: { link: DaemonLink; clientNonce: Uint8Array; daemonNonce: Uint8Array; proof: Uint8Array }) => false,
  },
  delays: {
    handshakeTimeout: ({ context }) => Math.max(0, context.timeoutMs),
  },
}).createMachine({
  id: 'daemonHandshake',
  initial: 'awaitingHello',
  context: ({ input }) => ({ ...input, clientNonce: undefined, observer: false }),
  output: ({ context }) => ({ observer: context.observer }),
  after: {
    handshakeTimeout: {
      target: '.timedOut',
      actions: { type: 'drop', params: ({ context }) => ({ link: context.link, reason: `no handshake within ${context.timeoutMs} ms` }) },
    },
  },
  on: {
    'frame.invalid': { target: '.malformed', actions: { type: 'refuseInvalid', params: ({ context, event }) => ({ link: context.link, error: event.error }) } },
    'socket.closed': '.closed',
    'admission.evicted': { target: '.evicted', actions: { type: 'drop', params: ({ context }) => ({ link: context.link }) } },
  },
  states: {
    awaitingHello: {
      on: {
        'frame.hello': [
          // A hello of another version may have another shape: its version is judged first.
          {
            guard: { type: 'speaksOurVersion', params: ({ event }) => ({ v: event.message.v }) },
            target: 'checkingNonce',
            actions: assign({ clientNonce: ({ event }) => event.message.nonce, observer: ({ event }) => event.message.observe === true }),
          },
          {
            target: 'versionRefused',
            actions: { type: 'refuseVersion', params: ({ context, event }) => ({ link: context.link, hello: event.message, daemonNonce: context.daemonNonce }) },
          },
        ],
        'frame.auth': refuseUnexpected('auth'),
        'frame.unexpected': { target: 'unexpected', actions: { type: 'refuseUnexpected', params: ({ context, event }) => ({ link: context.link, t: event.t }) } },
      },
    },
    checkingNonce: {
      always: [
        {
          guard: { type: 'hasNonce', params: ({ context }) => ({ nonce: context.clientNonce }) },
          target: 'awaitingAuth',
          actions: {
            type: 'sendChallenge',
            params: ({ context }) => ({ link: context.link, clientNonce: context.clientNonce!, daemonNonce: context.daemonNonce }),
          },
        },
        { target: 'malformed', actions: { type: 'refuseNonce', params: ({ context }) => ({ link: context.link }) } },
      ],
    },
    awaitingAuth: {
      on: {
        'frame.auth': [
          {
            guard: {
              type: 'isClientProof',
              params: ({ context, event }) => ({ link: context.link, clientNonce: context.clientNonce!, daemonNonce: context.daemonNonce, proof: event.proof }),
            },
            target: 'authenticated',
            // The welcome leaves first: the client goes on while the daemon counts the connection.
            actions: { type: 'sendWelcome', params: ({ context }) => ({ link: context.link }) },
          },
          { target: 'unauthenticated', actions: { type: 'refuseAuth', params: ({ context }) => ({ link: context.link }) } },
        ],
        'frame.hello': refuseUnexpected('hello'),
        'frame.unexpected': { target: 'unexpected', actions: { type: 'refuseUnexpected', params: ({ context, event }) => ({ link: context.link, t: event.t }) } },
      },
    },
    /** The client proved it holds the token and was welcomed: the runtime opens the connection. */
    authenticated: { type: 'final' },
    /** The auth's proof did not verify: refused with ERR_AUTH_FAILED. */
    unauthenticated: { type: 'final' },
    /** A hello of another protocol version: refused with ERR_PROTOCOL_VERSION. */
    versionRefused: { type: 'final' },
    /** An invalid frame, or a hello without a valid nonce: closed with the protocol error. */
    malformed: { type: 'final' },
    /** A well-formed message out of its phase: closed with ERR_UNKNOWN_MESSAGE. */
    unexpected: { type: 'final' },
    /** The peer went away. */
    closed: { type: 'final' },
    /** Dropped for the oldest of too many connections awaiting their handshake. */
    evicted: { type: 'final' },
    /** Dropped: no handshake within `handshakeTimeoutMs`. */
    timedOut: { type: 'final' },
  },
});
