/**
 * The mutual handshake (docs/PROTOCOL.md §3), one statechart per side. Pure definitions:
 * src/wire/handshake.ts provides the effects (sending frames, the HMAC checks, dropping the
 * socket) once per process with `.provide()`. Frames come in as events (the runtime decodes
 * each and sends `frame.<kind>`); what the effects work on (the socket, the token, the nonces)
 * comes in through `input` and lives in context, handed to them as `link`.
 *
 *   client:  connecting -(socket.connected / hello)-> awaitingChallenge -(challenge, proof
 *            and version good / auth)-> awaitingWelcome -(welcome)-> authenticated
 *   daemon:  awaitingHello -(hello / challenge)-> awaitingAuth -(auth, proof good / welcome)-> authenticated
 *
 * Every other ending is a final state of its own, named for what happened; the runtime turns
 * the client's into the error `Connection.open` rejects with, and the daemon's effects answer
 * (or drop) the peer on the way there. The deadline (`handshakeTimeout`: the client's connect +
 * handshake budget, the daemon's `handshakeTimeoutMs` from accept) is an `after` of the root.
 */
import { assign, setup } from 'xstate';
import type { DaemonInfo } from '../src/types.js';
import type { ClientLink, DaemonLink } from '../src/wire/handshake-links.js';
import { isNonce, type ChallengeMessage, type ErrorMessage, type HelloMessage } from '../src/wire/messages.js';

/** Where the client's handshake stood when it failed, for error messages. */
export type HandshakePhase = 'connecting' | 'challenge' | 'welcome';

/** What the client machine is told at start. */
export interface ClientHandshakeInput {
  /** What its effects work on (the socket, the token, the nonce); the chart never looks inside. */
  readonly link: ClientLink;
  /** Connect + handshake budget, ms. */
  readonly timeoutMs: number;
  /** The protocol version this client speaks. */
  readonly protocolVersion: number;
}

/** The client machine's context. */
export interface ClientHandshakeContext extends ClientHandshakeInput {
  readonly phase: HandshakePhase;
  /** The challenge, once one came (for a version that differs). */
  readonly challenge: ChallengeMessage | undefined;
  /** An `error` frame the listener sent. */
  readonly refusal: ErrorMessage | undefined;
  /** A socket error, an invalid frame, or the abort reason. */
  readonly error: unknown;
  /** The `t` of an out-of-phase message. */
  readonly unexpected: string | undefined;
  /** The daemon's info, from its welcome. */
  readonly info: DaemonInfo | undefined;
}

/** The client machine's output: everything the runtime needs to report how it ended. */
export type ClientHandshakeOutput = Omit<ClientHandshakeContext, 'link'>;

/** The client's events: socket happenings, decoded frames, the caller's abort. */
export type ClientHandshakeEvent =
  | { type: 'socket.connected' }
  | { type: 'socket.error'; error: unknown }
  | { type: 'socket.closed' }
  | { type: 'abort'; reason: unknown }
  | { type: 'frame.challenge'; message: ChallengeMessage }
  | { type: 'frame.welcome'; info: DaemonInfo }
  | { type: 'frame.refusal'; message: ErrorMessage }
  /** A well-formed daemon message the handshake has no use for (a `reply`). */
  | { type: 'frame.unexpected'; t: string }
  /** A frame that could not be decoded or validated. */
  | { type: 'frame.invalid'; error: unknown };

/** The client side: proves the listener holds the token before believing anything it says. */
export const clientHandshakeMachine = setup({
  types: {
    context: {} as ClientHandshakeContext,
    input: {} as ClientHandshakeInput,
    output: {} as ClientHandshakeOutput,
    events: {} as ClientHandshakeEvent,
  },
  actions: {
    recordUnexpected: assign({ unexpected: (_, params: { t: string }) => params.t }),
    /** Sends `hello` with the client's nonce. */
    sendHello: (_, _params: { link: ClientLink }) => {},
    /** Sends `auth` with the client's proof over both nonces. */
    sendAuth: (_, _params: { link: ClientLink; challenge: ChallengeMessage }) => {},
  },
  guards: {
    /** The challenge's proof verifies as the daemon's over both nonces. */
    isDaemonProof: (_, _params: { link: ClientLink; challenge: ChallengeMessage }) => false,
    /** An `ERR_PROTOCOL_VERSION` refusal whose proof verifies as a refusal over the client's nonce. */
    isSignedRefusal: (_, _params: { link: ClientLink; refusal: ErrorMessage }) => false,
    speaksOurVersion: ({ context }, params: { v: number }) => params.v === context.protocolVersion,
  },
  delays: {
    handshakeTimeout: ({ context }) => Math.max(0, context.timeoutMs),
  },
}).createMachine({
  id: 'clientHandshake',
  initial: 'connecting',
  context: ({ input }) => ({
    ...input,
    phase: 'connecting',
    challenge: undefined,
    refusal: undefined,
    error: undefined,
    unexpected: undefined,
    info: undefined,
  }),
  output: ({ context: { link: _link, ...rest } }) => rest,
  after: { handshakeTimeout: '.timedOut' },
  on: {
    abort: { target: '.aborted', actions: assign({ error: ({ event }) => event.reason }) },
    'socket.error': { target: '.unreachable', actions: assign({ error: ({ event }) => event.error }) },
    'socket.closed': '.closed',
    'frame.invalid': { target: '.malformed', actions: assign({ error: ({ event }) => event.error }) },
  },
  states: {
    connecting: {
      on: {
        'socket.connected': { target: 'awaitingChallenge', actions: { type: 'sendHello', params: ({ context }) => ({ link: context.link }) } },
      },
    },
    awaitingChallenge: {
      entry: assign({ phase: 'challenge' }),
      on: {
        'frame.challenge': [
          // The proof first: nothing an unproven listener says (its version included) is believed.
          {
            guard: { type: 'isDaemonProof', params: ({ context, event }) => ({ link: context.link, challenge: event.message }) },
            target: 'checkingVersion',
            actions: assign({ challenge: ({ event }) => event.message }),
          },
          { target: 'unauthenticated' },
        ],
        // Before the daemon has proved itself, only a signed version refusal is believed.
        'frame.refusal': [
          {
            guard: { type: 'isSignedRefusal', params: ({ context, event }) => ({ link: context.link, refusal: event.message }) },
            target: 'versionRefused',
            actions: assign({ refusal: ({ event }) => event.message }),
          },
          { target: 'refusedUnproven', actions: assign({ refusal: ({ event }) => event.message }) },
        ],
        'frame.welcome': { target: 'unexpected', actions: { type: 'recordUnexpected', params: { t: 'welcome' } } },
        'frame.unexpected': { target: 'unexpected', actions: { type: 'recordUnexpected', params: ({ event }) => ({ t: event.t }) } },
      },
    },
    // The listener proved it holds the token: now its version is believed.
    checkingVersion: {
      always: [
        {
          guard: { type: 'speaksOurVersion', params: ({ context }) => ({ v: context.challenge!.v }) },
          target: 'awaitingWelcome',
          actions: { type: 'sendAuth', params: ({ context }) => ({ link: context.link, challenge: context.challenge! }) },
        },
        { target: 'versionDiffers' },
      ],
    },
    awaitingWelcome: {
      entry: assign({ phase: 'welcome' }),
      on: {
        'frame.welcome': { target: 'authenticated', actions: assign({ info: ({ event }) => event.info }) },
        // The daemon already proved itself: its refusal is believed as it is.
        'frame.refusal': { target: 'rejected', actions: assign({ refusal: ({ event }) => event.message }) },
        'frame.challenge': { target: 'unexpected', actions: { type: 'recordUnexpected', params: { t: 'challenge' } } },
        'frame.unexpected': { target: 'unexpected', actions: { type: 'recordUnexpected', params: ({ event }) => ({ t: event.t }) } },
      },
    },
    /** The daemon welcomed us: the output carries its info. */
    authenticated: { type: 'final' },
    /** The challenge's proof did not verify: the listener is not our daemon. */
    unauthenticated: { type: 'final' },
    /** Our daemon, proven, speaks another protocol version. */
    versionDiffers: { type: 'final' },
    /** Our daemon refused our version, and signed the refusal. */
    versionRefused: { type: 'final' },
    /** An unproven listener refused us (not believed: a foreign or stale listener). */
    refusedUnproven: { type: 'final' },
    /** The proven daemon refused our auth (or closed) and said why. */
    rejected: { type: 'final' },
    /** A well-formed message out of its phase. */
    unexpected: { type: 'final' },
    /** A frame that could not be decoded or validated. */
    malformed: { type: 'final' },
    /** The socket failed (nothing listening, say). */
    unreachable: { type: 'final' },
    /** The socket closed before the welcome. */
    closed: { type: 'final' },
    /** The caller's signal aborted. */
    aborted: { type: 'final' },
    /** No welcome within the budget. */
    timedOut: { type: 'final' },
  },
});

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
