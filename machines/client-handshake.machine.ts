/**
 * The mutual handshake (docs/PROTOCOL.md §3), client side; the daemon's half is
 * ./daemon-handshake.machine.ts. A pure definition: src/wire/handshake.ts provides the effects
 * (sending frames, the HMAC checks) once per process with `.provide()`. Frames come in as
 * events (the runtime decodes each and sends `frame.<kind>`); what the effects work on (the
 * socket, the token, the nonce) comes in through `input` and lives in context, handed to them
 * as `link`.
 *
 *   connecting -(socket.connected / hello)-> awaitingChallenge -(challenge, proof and version
 *   good / auth)-> awaitingWelcome -(welcome)-> authenticated
 *
 * Every other ending is a final state of its own, named for what happened; the runtime turns
 * it into the error `Connection.open` rejects with. The deadline (`handshakeTimeout`, the
 * connect + handshake budget) is an `after` of the root.
 */
import { assign, setup } from 'xstate';
import type { DaemonInfo } from '../src/types.js';
import type { ClientLink } from '../src/wire/handshake-links.js';
import type { ChallengeMessage, ErrorMessage } from '../src/wire/messages.js';

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
