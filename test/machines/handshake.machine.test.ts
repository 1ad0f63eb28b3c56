/**
 * The handshake statecharts on their own: every effect (sending, the HMAC checks, dropping) is
 * a fake supplied with `provide()` that records what it was handed; the deadline runs on
 * vitest's fake clock. No sockets, no tokens.
 *
 * Every state and every transition of machines/client-handshake.machine.ts and
 * machines/daemon-handshake.machine.ts is taken by at least one test below.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, type Actor, type AnyActorLogic } from 'xstate';
import { clientHandshakeMachine, type ClientHandshakeEvent, type ClientHandshakeOutput } from '../../machines/client-handshake.machine.js';
import { daemonHandshakeMachine, type DaemonHandshakeEvent } from '../../machines/daemon-handshake.machine.js';
import type { DaemonInfo } from '../../src/types.js';
import type { ClientLink, DaemonLink } from '../../src/wire/handshake-links.js';
import type { ChallengeMessage, ErrorMessage, HelloMessage } from '../../src/wire/messages.js';

const TIMEOUT = 500;
const VERSION = 1;
/** What the effects work on: the chart hands it to them and never looks inside, so a marker stands in for both sides' links. */
const LINK = Object.freeze({ staging: 'the socket and the token' }) as unknown as ClientLink & DaemonLink;
const nonce = (byte: number) => new Uint8Array(32).fill(byte);

/** The fakes' verdicts: a proof is good when its first byte is 1. */
const GOOD = new Uint8Array([1]);
const BAD = new Uint8Array([0]);
const challenge = (proof: Uint8Array, v = VERSION): ChallengeMessage => ({ t: 'challenge', v, pkg: 'x', nonce: nonce(2), proof });
const refusal = (proof: Uint8Array): ErrorMessage => ({ t: 'error', id: null, e: { code: 'ERR_PROTOCOL_VERSION', name: 'HandshakeError', message: 'no' }, proof });
const INFO = { pid: 7 } as unknown as DaemonInfo;

const actors: Actor<AnyActorLogic>[] = [];
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  for (const actor of actors.splice(0)) actor.stop();
  vi.useRealTimers();
});

function startClient() {
  const calls: Array<[string, unknown]> = [];
  const record = (name: string) => (_: unknown, params: unknown) => {
    calls.push([name, params]);
  };
  const machine = clientHandshakeMachine.provide({
    actions: { sendHello: record('sendHello'), sendAuth: record('sendAuth') },
    guards: {
      isDaemonProof: (_, params) => {
        calls.push(['isDaemonProof', params]);
        return params.challenge.proof[0] === 1;
      },
      isSignedRefusal: (_, params) => {
        calls.push(['isSignedRefusal', params]);
        return params.refusal.proof?.[0] === 1;
      },
    },
  });
  const actor = createActor(machine, { input: { link: LINK, timeoutMs: TIMEOUT, protocolVersion: VERSION } });
  actors.push(actor as never);
  actor.start();
  const send = (...events: ClientHandshakeEvent[]) => {
    for (const event of events) actor.send(event);
  };
  const names = () => calls.map(([name]) => name);
  const output = () => actor.getSnapshot().output as ClientHandshakeOutput;
  return { actor, calls, names, send, output, value: () => actor.getSnapshot().value, status: () => actor.getSnapshot().status };
}

const CONNECTED: ClientHandshakeEvent = { type: 'socket.connected' };
const GOOD_CHALLENGE: ClientHandshakeEvent = { type: 'frame.challenge', message: challenge(GOOD) };

describe('client handshake machine', () => {
  it('hello, a proven challenge of our version, auth, welcome: authenticated, with the info in its output', () => {
    const client = startClient();
    expect(client.value()).toBe('connecting');
    client.send(CONNECTED);
    expect(client.value()).toBe('awaitingChallenge');
    expect(client.calls).toEqual([['sendHello', { link: LINK }]]);
    client.send(GOOD_CHALLENGE);
    expect(client.value()).toBe('awaitingWelcome');
    expect(client.calls.at(-1)).toEqual(['sendAuth', { link: LINK, challenge: challenge(GOOD) }]);
    client.send({ type: 'frame.welcome', info: INFO });
    expect(client.status()).toBe('done');
    expect(client.value()).toBe('authenticated');
    expect(client.output()).toMatchObject({ info: INFO, phase: 'welcome', error: undefined, refusal: undefined });
    expect(client.output()).not.toHaveProperty('link');
  });

  it('a challenge whose proof fails is unauthenticated, whatever version it states, and no auth is sent', () => {
    const client = startClient();
    client.send(CONNECTED, { type: 'frame.challenge', message: challenge(BAD, 2) });
    expect(client.value()).toBe('unauthenticated');
    expect(client.names()).toEqual(['sendHello', 'isDaemonProof']);
  });

  it('a proven challenge of another version ends in versionDiffers, with the challenge in the output, and no auth', () => {
    const client = startClient();
    client.send(CONNECTED, { type: 'frame.challenge', message: challenge(GOOD, 2) });
    expect(client.value()).toBe('versionDiffers');
    expect(client.output().challenge).toEqual(challenge(GOOD, 2));
    expect(client.names()).not.toContain('sendAuth');
  });

  it('before the challenge, a signed refusal is versionRefused and any other is refusedUnproven', () => {
    const signed = startClient();
    signed.send(CONNECTED, { type: 'frame.refusal', message: refusal(GOOD) });
    expect(signed.value()).toBe('versionRefused');
    expect(signed.output().refusal).toEqual(refusal(GOOD));
    expect(signed.calls.at(-1)).toEqual(['isSignedRefusal', { link: LINK, refusal: refusal(GOOD) }]);
    const unsigned = startClient();
    unsigned.send(CONNECTED, { type: 'frame.refusal', message: refusal(BAD) });
    expect(unsigned.value()).toBe('refusedUnproven');
    expect(unsigned.output().refusal).toEqual(refusal(BAD));
  });

  it('after auth, a refusal is rejected as it is: no signature is asked for', () => {
    const client = startClient();
    client.send(CONNECTED, GOOD_CHALLENGE, { type: 'frame.refusal', message: refusal(BAD) });
    expect(client.value()).toBe('rejected');
    expect(client.output().refusal).toEqual(refusal(BAD));
    expect(client.names()).not.toContain('isSignedRefusal');
  });

  it.each([
    ['a welcome before the challenge', [{ type: 'frame.welcome', info: INFO }], 'welcome'],
    ['a reply before the challenge', [{ type: 'frame.unexpected', t: 'reply' }], 'reply'],
    ['a second challenge', [GOOD_CHALLENGE, GOOD_CHALLENGE], 'challenge'],
    ['a reply before the welcome', [GOOD_CHALLENGE, { type: 'frame.unexpected', t: 'reply' }], 'reply'],
  ] as Array<[string, ClientHandshakeEvent[], string]>)('%s is unexpected, named in the output', (_, events, t) => {
    const client = startClient();
    client.send(CONNECTED, ...events);
    expect(client.value()).toBe('unexpected');
    expect(client.output().unexpected).toBe(t);
  });

  it('frames before the socket connected are not taken', () => {
    const client = startClient();
    client.send({ type: 'frame.welcome', info: INFO }, GOOD_CHALLENGE);
    expect(client.value()).toBe('connecting');
  });

  const PHASES: Array<[string, ClientHandshakeEvent[]]> = [
    ['connecting', []],
    ['challenge', [CONNECTED]],
    ['welcome', [CONNECTED, GOOD_CHALLENGE]],
  ];
  describe.each(PHASES)('in phase %s', (phase, before) => {
    it.each([
      ['abort', { type: 'abort', reason: 'the reason' }, 'aborted', 'the reason'],
      ['socket.error', { type: 'socket.error', error: 'ECONNREFUSED' }, 'unreachable', 'ECONNREFUSED'],
      ['frame.invalid', { type: 'frame.invalid', error: 'bad frame' }, 'malformed', 'bad frame'],
      ['socket.closed', { type: 'socket.closed' }, 'closed', undefined],
    ] as Array<[string, ClientHandshakeEvent, string, unknown]>)('%s ends in its final state, with the phase and the cause in the output', (_, event, final, error) => {
      const client = startClient();
      client.send(...before, event);
      expect(client.value()).toBe(final);
      expect(client.output()).toMatchObject({ phase, error });
    });

    it('the deadline ends in timedOut at timeoutMs, not before', () => {
      const client = startClient();
      client.send(...before);
      vi.advanceTimersByTime(TIMEOUT - 1);
      expect(client.status()).toBe('active');
      vi.advanceTimersByTime(1);
      expect(client.value()).toBe('timedOut');
      expect(client.output()).toMatchObject({ phase, timeoutMs: TIMEOUT });
    });
  });

  it('an ending cancels the deadline', () => {
    const client = startClient();
    client.send(CONNECTED, { type: 'socket.error', error: 'first' });
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(TIMEOUT);
    expect(client.value()).toBe('unreachable');
    expect(client.output().error).toBe('first');
  });
});

function startDaemon() {
  const calls: Array<[string, unknown]> = [];
  const record = (name: string) => (_: unknown, params: unknown) => {
    calls.push([name, params]);
  };
  const machine = daemonHandshakeMachine.provide({
    actions: {
      sendChallenge: record('sendChallenge'),
      refuseVersion: record('refuseVersion'),
      refuseAuth: record('refuseAuth'),
      sendWelcome: record('sendWelcome'),
      refuseInvalid: record('refuseInvalid'),
      refuseUnexpected: record('refuseUnexpected'),
      refuseNonce: record('refuseNonce'),
      drop: record('drop'),
    },
    guards: {
      isClientProof: (_, params) => {
        calls.push(['isClientProof', params]);
        return params.proof[0] === 1;
      },
    },
  });
  const actor = createActor(machine, { input: { link: LINK, timeoutMs: TIMEOUT, protocolVersion: VERSION, daemonNonce: nonce(9) } });
  actors.push(actor as never);
  actor.start();
  const send = (...events: DaemonHandshakeEvent[]) => {
    for (const event of events) actor.send(event);
  };
  return { actor, calls, send, names: () => calls.map(([name]) => name), value: () => actor.getSnapshot().value, status: () => actor.getSnapshot().status };
}

const hello = (fields: Partial<HelloMessage> = {}): DaemonHandshakeEvent => ({
  type: 'frame.hello',
  message: { t: 'hello', v: VERSION, pkg: 'x', nonce: nonce(1), ...fields },
});
const AUTH_GOOD: DaemonHandshakeEvent = { type: 'frame.auth', proof: GOOD };

describe('daemon handshake machine', () => {
  it.each([
    [false, {}],
    [true, { observe: true }],
  ] as const)('hello, challenge, a good auth, welcome: authenticated (observer %s in the output)', (observer, fields) => {
    const daemon = startDaemon();
    expect(daemon.value()).toBe('awaitingHello');
    daemon.send(hello(fields));
    expect(daemon.value()).toBe('awaitingAuth');
    expect(daemon.calls).toEqual([['sendChallenge', { link: LINK, clientNonce: nonce(1), daemonNonce: nonce(9) }]]);
    daemon.send(AUTH_GOOD);
    expect(daemon.calls.slice(1)).toEqual([
      ['isClientProof', { link: LINK, clientNonce: nonce(1), daemonNonce: nonce(9), proof: GOOD }],
      ['sendWelcome', { link: LINK }],
    ]);
    expect(daemon.value()).toBe('authenticated');
    expect(daemon.actor.getSnapshot().output).toEqual({ observer });
  });

  it.each([
    ['with a nonce', nonce(1)],
    ['whatever its nonce', 'not a nonce'],
  ])('a hello of another version is refused %s, and nothing else is checked or sent', (_, helloNonce) => {
    const daemon = startDaemon();
    const event = hello({ v: 2, nonce: helloNonce as Uint8Array });
    daemon.send(event);
    expect(daemon.value()).toBe('versionRefused');
    expect(daemon.calls).toEqual([['refuseVersion', { link: LINK, hello: (event as { message: HelloMessage }).message, daemonNonce: nonce(9) }]]);
  });

  it('a hello of our version without a 32-byte nonce is malformed', () => {
    const daemon = startDaemon();
    daemon.send(hello({ nonce: new Uint8Array(31) }));
    expect(daemon.value()).toBe('malformed');
    expect(daemon.calls).toEqual([['refuseNonce', { link: LINK }]]);
  });

  it('an auth whose proof fails is refused, never welcomed', () => {
    const daemon = startDaemon();
    daemon.send(hello(), { type: 'frame.auth', proof: BAD });
    expect(daemon.value()).toBe('unauthenticated');
    expect(daemon.names()).toEqual(['sendChallenge', 'isClientProof', 'refuseAuth']);
    // The refusal goes to this connection's link.
    expect(daemon.calls.at(-1)).toEqual(['refuseAuth', { link: LINK }]);
  });

  it.each([
    ['an auth before the hello', [AUTH_GOOD], 'auth'],
    ['a call before the hello', [{ type: 'frame.unexpected', t: 'call' }], 'call'],
    ['a second hello', [hello(), hello()], 'hello'],
    ['a ping before the auth', [hello(), { type: 'frame.unexpected', t: 'ping' }], 'ping'],
  ] as Array<[string, DaemonHandshakeEvent[], string]>)('%s is refused as unexpected', (_, events, t) => {
    const daemon = startDaemon();
    daemon.send(...events);
    expect(daemon.value()).toBe('unexpected');
    expect(daemon.calls.at(-1)).toEqual(['refuseUnexpected', { link: LINK, t }]);
    expect(daemon.names()).not.toContain('isClientProof');
  });

  describe.each([
    ['awaitingHello', [] as DaemonHandshakeEvent[]],
    ['awaitingAuth', [hello()]],
  ])('in %s', (_, before) => {
    it('an invalid frame is malformed, refused with its error', () => {
      const daemon = startDaemon();
      daemon.send(...before, { type: 'frame.invalid', error: 'too large' });
      expect(daemon.value()).toBe('malformed');
      expect(daemon.calls.at(-1)).toEqual(['refuseInvalid', { link: LINK, error: 'too large' }]);
    });

    it('socket loss ends in closed, with nothing sent', () => {
      const daemon = startDaemon();
      daemon.send(...before, { type: 'socket.closed' });
      expect(daemon.value()).toBe('closed');
      expect(daemon.calls.length).toBe(before.length);
    });

    it('eviction drops the socket without a reason to log', () => {
      const daemon = startDaemon();
      daemon.send(...before, { type: 'admission.evicted' });
      expect(daemon.value()).toBe('evicted');
      expect(daemon.calls.at(-1)).toEqual(['drop', { link: LINK }]);
    });

    it('the deadline drops the socket at timeoutMs from the start, not before, and says why', () => {
      const daemon = startDaemon();
      daemon.send(...before);
      vi.advanceTimersByTime(TIMEOUT - 1);
      expect(daemon.status()).toBe('active');
      vi.advanceTimersByTime(1);
      expect(daemon.value()).toBe('timedOut');
      expect(daemon.calls.at(-1)).toEqual(['drop', { link: LINK, reason: `no handshake within ${TIMEOUT} ms` }]);
    });
  });

  it('after authenticating, the deadline is gone', () => {
    const daemon = startDaemon();
    daemon.send(hello(), AUTH_GOOD);
    vi.advanceTimersByTime(TIMEOUT * 2);
    expect(daemon.value()).toBe('authenticated');
    expect(daemon.names()).not.toContain('drop');
  });
});
