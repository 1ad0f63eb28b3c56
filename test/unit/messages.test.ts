import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { decodeValue, encodeValue } from '../../src/wire/codec.js';
import { NONCE_BYTES } from '../../src/wire/messages.js';
import { isNonce, parseClientMessage, parseDaemonMessage } from '../../src/wire/parse.js';

const nonce = Buffer.alloc(NONCE_BYTES, 1);
const proof = Buffer.alloc(32, 2);
const info = {
  pid: 123,
  instanceId: 'abc',
  active: 1,
  queued: 0,
  running: 0,
  state: 'serving',
  protocolVersion: 1,
  packageVersion: '0.1.0',
  factoryId: 'f',
  startedAt: 1,
  callsServed: 0,
  transport: 'tcp',
  address: '127.0.0.1:1234',
  idleTtlMs: 2000,
};
const wireError = { code: 'ERR_REMOTE', name: 'TypeError', message: 'boom', stack: 'TypeError: boom\n    at x' };

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return (error as ProtocolError).code;
  }
  throw new Error('expected the parser to throw');
}

describe('parseClientMessage', () => {
  it.each([
    ['hello', { t: 'hello', v: 1, pkg: '0.1.0', nonce }],
    ['hello with a plain Uint8Array nonce', { t: 'hello', v: 1, pkg: '0.1.0', nonce: new Uint8Array(NONCE_BYTES) }],
    ['auth', { t: 'auth', proof }],
    ['call without arguments', { t: 'call', id: 0, m: 'inc', a: [] }],
    ['call with arguments', { t: 'call', id: 5, m: 'add', a: [1, 'x', { y: [null] }] }],
    ['call with the largest safe id', { t: 'call', id: Number.MAX_SAFE_INTEGER, m: 'inc', a: [] }],
    ['call with a deadline', { t: 'call', id: 6, m: 'inc', a: [], dl: 1_765_000_000_000 }],
    ['cancel', { t: 'cancel', id: 6 }],
    ['ping', { t: 'ping', id: 9 }],
    ['shutdown', { t: 'shutdown', id: 3, force: false }],
    ['forced shutdown', { t: 'shutdown', id: 4, force: true }],
  ])('accepts %s', (_label, message) => {
    expect(parseClientMessage(message)).toEqual(message);
  });

  it.each([
    ['missing', {}, false],
    ['true', { force: true }, true],
    ['a truthy non-boolean', { force: 'yes' }, false],
    ['1', { force: 1 }, false],
  ])('reads shutdown.force %s as %s', (_label, extra, force) => {
    expect(parseClientMessage({ t: 'shutdown', id: 1, ...extra })).toEqual({ t: 'shutdown', id: 1, force });
  });

  // A hello of another protocol version may have another shape and must still reach the
  // version check (ERR_PROTOCOL_VERSION), so only `v` is checked here; the receiver checks
  // the nonce with isNonce.
  it.each([
    ['without nonce', { t: 'hello', v: 2 }],
    ['with a short nonce', { t: 'hello', v: 1, pkg: '0.1.0', nonce: Buffer.alloc(NONCE_BYTES - 1) }],
    ['with extra fields of a future version', { t: 'hello', v: 9, pkg: '9.0.0', nonce, extra: { x: 1 } }],
  ])('lets a hello %s through to the version check', (_label, message) => {
    expect(parseClientMessage(message)).toEqual(message);
  });

  it('accepts a message that went through the codec (bytes come back as Uint8Array)', () => {
    const hello = { t: 'hello', v: 1, pkg: '0.1.0', nonce };
    expect(parseClientMessage(decodeValue(encodeValue(hello)))).toEqual(hello);
  });

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a number', 42],
    ['a string', 'hello'],
    ['an array', [{ t: 'ping', id: 1 }]],
    ['call without id', { t: 'call', m: 'inc', a: [] }],
    ['call with a negative id', { t: 'call', id: -1, m: 'inc', a: [] }],
    ['call with a fractional id', { t: 'call', id: 1.5, m: 'inc', a: [] }],
    ['call with a string id', { t: 'call', id: '1', m: 'inc', a: [] }],
    ['call with a NaN id', { t: 'call', id: Number.NaN, m: 'inc', a: [] }],
    ['call with an infinite id', { t: 'call', id: Number.POSITIVE_INFINITY, m: 'inc', a: [] }],
    ['call with an unsafe id', { t: 'call', id: 2 ** 53, m: 'inc', a: [] }],
    ['call without m', { t: 'call', id: 1, a: [] }],
    ['call with a numeric m', { t: 'call', id: 1, m: 7, a: [] }],
    ['call without a', { t: 'call', id: 1, m: 'inc' }],
    ['call with a map as a', { t: 'call', id: 1, m: 'inc', a: { 0: 1 } }],
    ['call with a string as a', { t: 'call', id: 1, m: 'inc', a: 'x' }],
    ['call with a string deadline', { t: 'call', id: 1, m: 'inc', a: [], dl: '1765000000000' }],
    ['cancel without id', { t: 'cancel' }],
    ['cancel with a negative id', { t: 'cancel', id: -1 }],
    ['ping without id', { t: 'ping' }],
    ['ping with a negative id', { t: 'ping', id: -3 }],
    ['hello without v', { t: 'hello', pkg: '0.1.0', nonce }],
    ['hello with a string v', { t: 'hello', v: '1', pkg: '0.1.0', nonce }],
    ['auth without proof', { t: 'auth' }],
    ['auth with a string proof', { t: 'auth', proof: proof.toString('hex') }],
    ['auth with a proof given as an array', { t: 'auth', proof: [...proof] }],
    ['shutdown without id', { t: 'shutdown', force: true }],
    ['shutdown with a fractional id', { t: 'shutdown', id: 0.5 }],
  ])('rejects %s with ERR_PROTOCOL', (_label, value) => {
    expect(codeOf(() => parseClientMessage(value))).toBe('ERR_PROTOCOL');
  });

  it.each([
    ['a map without t', { id: 1 }],
    ['an unknown t', { t: 'nope', id: 1 }],
    ['a numeric t', { t: 1 }],
    ['an inherited property name as t', { t: 'toString' }],
    ['a daemon-only message (reply)', { t: 'reply', id: 1, r: 2 }],
    ['a daemon-only message (challenge)', { t: 'challenge', v: 1, pkg: '0.1.0', nonce, proof }],
    ['a daemon-only message (welcome)', { t: 'welcome', info }],
    ['a daemon-only message (error)', { t: 'error', id: null, e: wireError }],
  ])('rejects %s with ERR_UNKNOWN_MESSAGE', (_label, value) => {
    expect(codeOf(() => parseClientMessage(value))).toBe('ERR_UNKNOWN_MESSAGE');
  });
});

describe('parseDaemonMessage', () => {
  it.each([
    ['challenge', { t: 'challenge', v: 1, pkg: '0.1.0', nonce, proof }],
    ['welcome', { t: 'welcome', info }],
    ['reply with a value', { t: 'reply', id: 1, r: { x: [1, 2] } }],
    ['reply with null', { t: 'reply', id: 0, r: null }],
    ['error for a request', { t: 'error', id: 7, e: wireError }],
    ['error for the connection', { t: 'error', id: null, e: { code: 'ERR_PROTOCOL', name: 'ProtocolError', message: 'bad' } }],
  ])('accepts %s', (_label, message) => {
    expect(parseDaemonMessage(message)).toEqual(message);
  });

  it('accepts a message that went through the codec', () => {
    const challenge = { t: 'challenge', v: 1, pkg: '0.1.0', nonce, proof };
    expect(parseDaemonMessage(decodeValue(encodeValue(challenge)))).toEqual(challenge);
  });

  it.each([
    ['null', null],
    ['a number', 1],
    ['an array', [{ t: 'reply', id: 1, r: 1 }]],
    ['reply without id', { t: 'reply', r: 1 }],
    ['reply with a negative id', { t: 'reply', id: -1, r: 1 }],
    ['reply with a string id', { t: 'reply', id: '1', r: 1 }],
    ['error without id', { t: 'error', e: wireError }],
    ['error with a negative id', { t: 'error', id: -1, e: wireError }],
    ['error with a string id', { t: 'error', id: 'x', e: wireError }],
    ['error without e', { t: 'error', id: 1 }],
    ['error with a string e', { t: 'error', id: 1, e: 'boom' }],
    ['error with an array e', { t: 'error', id: 1, e: [wireError] }],
    ['error with a numeric code', { t: 'error', id: 1, e: { ...wireError, code: 1 } }],
    ['error without code', { t: 'error', id: 1, e: { name: 'Error', message: 'boom' } }],
    ['error without message', { t: 'error', id: 1, e: { code: 'ERR_REMOTE', name: 'Error' } }],
    ['challenge without v', { t: 'challenge', pkg: '0.1.0', nonce, proof }],
    ['challenge with a string v', { t: 'challenge', v: '1', pkg: '0.1.0', nonce, proof }],
    ['challenge with a short nonce', { t: 'challenge', v: 1, pkg: '0.1.0', nonce: Buffer.alloc(8), proof }],
    ['challenge without nonce', { t: 'challenge', v: 1, pkg: '0.1.0', proof }],
    ['challenge without proof', { t: 'challenge', v: 1, pkg: '0.1.0', nonce }],
    ['challenge with a string proof', { t: 'challenge', v: 1, pkg: '0.1.0', nonce, proof: 'ab' }],
    ['welcome without info', { t: 'welcome' }],
    ['welcome with a null info', { t: 'welcome', info: null }],
    ['welcome with an array info', { t: 'welcome', info: [info] }],
  ])('rejects %s with ERR_PROTOCOL', (_label, value) => {
    expect(codeOf(() => parseDaemonMessage(value))).toBe('ERR_PROTOCOL');
  });

  it.each([
    ['a map without t', { id: 1 }],
    ['an unknown t', { t: 'nope' }],
    ['an inherited property name as t', { t: 'constructor' }],
    ['a client-only message (call)', { t: 'call', id: 1, m: 'inc', a: [] }],
    ['a client-only message (hello)', { t: 'hello', v: 1, pkg: '0.1.0', nonce }],
    ['a client-only message (auth)', { t: 'auth', proof }],
    ['a client-only message (ping)', { t: 'ping', id: 1 }],
    ['a client-only message (shutdown)', { t: 'shutdown', id: 1, force: false }],
  ])('rejects %s with ERR_UNKNOWN_MESSAGE', (_label, value) => {
    expect(codeOf(() => parseDaemonMessage(value))).toBe('ERR_UNKNOWN_MESSAGE');
  });
});

describe('isNonce', () => {
  it.each([
    ['a Buffer of NONCE_BYTES', Buffer.alloc(NONCE_BYTES), true],
    ['a Uint8Array of NONCE_BYTES', new Uint8Array(NONCE_BYTES), true],
    ['one byte short', Buffer.alloc(NONCE_BYTES - 1), false],
    ['one byte long', Buffer.alloc(NONCE_BYTES + 1), false],
    ['empty bytes', Buffer.alloc(0), false],
    ['an array of numbers', Array.from({ length: NONCE_BYTES }, () => 0), false],
    ['a hex string', 'ab'.repeat(NONCE_BYTES), false],
    ['undefined', undefined, false],
  ])('%s -> %s', (_label, value, expected) => {
    expect(isNonce(value)).toBe(expected);
  });
});

describe('hostile message types', () => {
  it('a `t` that cannot be turned into a string is still only a ProtocolError', () => {
    const hostile = { t: { toString: null } };
    expect(() => parseClientMessage(hostile)).toThrow(ProtocolError);
    expect(() => parseDaemonMessage(hostile)).toThrow(ProtocolError);
  });
});
