/**
 * What crosses the wire when hosted code throws something hostile (src/errors/wire.ts): an
 * Error whose getters throw, whose name is a symbol or whose message cannot be made a string;
 * and the client's words for a call whose arguments or result cannot cross
 * (src/client/pending.ts).
 */
import { describe, expect, it } from 'vitest';
import { cannotSend, unreceivableReply } from '../../src/client/pending.js';
import { LoopbackSingletonError, ProtocolError } from '../../src/errors.js';
import { asText, remoteErrorToWire } from '../../src/errors/wire.js';
import { encodeFrame, HEADER_BYTES } from '../../src/wire/codec.js';

const payload = (message: unknown): Buffer => encodeFrame(message, 1 << 20).subarray(HEADER_BYTES);

describe('remoteErrorToWire on hostile errors', () => {
  it('an Error whose fields throw when read: the defaults, never a throw', () => {
    // An Error by its prototype, every field a getter that throws.
    const throwing = (key: string) => ({
      get() {
        throw new TypeError(`no ${key}`);
      },
    });
    const error = Object.create(Error.prototype, {
      name: throwing('name'),
      message: throwing('message'),
      stack: throwing('stack'),
      code: throwing('code'),
    }) as Error;
    expect(error).toBeInstanceOf(Error);
    expect(remoteErrorToWire(error)).toEqual({ code: 'ERR_REMOTE', name: 'Error', message: '', stack: undefined, remoteCode: undefined });
  });

  it('a name that is a symbol, a message whose String() throws, a code that is an object', () => {
    const error = Object.assign(new Error('x'), {
      name: Symbol('odd') as unknown as string,
      code: { not: 'a code' },
      stack: 42 as unknown as string,
    });
    Object.defineProperty(error, 'message', {
      value: {
        toString: () => {
          throw new Error('no');
        },
      },
    });
    expect(remoteErrorToWire(error)).toEqual({ code: 'ERR_REMOTE', name: 'Symbol(odd)', message: '', stack: undefined, remoteCode: undefined });
    const numbered = Object.assign(new Error('y'), { code: 7, name: 42 as unknown as string });
    expect(remoteErrorToWire(numbered)).toMatchObject({ name: '42', message: 'y', remoteCode: 7, stack: expect.stringContaining('y') });
  });
});

describe('asText', () => {
  it.each([
    ['text', 'text'],
    ['', ''],
    [undefined, 'fb'],
    [null, 'fb'],
    [0, '0'],
    [false, 'false'],
  ])('%j -> %j', (value, text) => {
    expect(asText(value, 'fb')).toBe(text);
  });

  it('falls back when String() throws', () => {
    expect(asText(Symbol('s'), 'fb')).toBe('Symbol(s)');
    expect(asText(Object.create(null), 'fb')).toBe('fb');
  });
});

describe('calls whose values cannot cross', () => {
  it('cannotSend names the method of an ERR_UNENCODABLE, keeps its code and cause, and lets any other error through', () => {
    const cause = new TypeError('the key');
    const original = new ProtocolError('a Map key is an object', { code: 'ERR_UNENCODABLE', cause });
    const said = cannotSend('put', original) as ProtocolError;
    expect(said).toBeInstanceOf(ProtocolError);
    expect(said).toMatchObject({ code: 'ERR_UNENCODABLE', message: 'Cannot send the arguments of "put" (the call was not sent): a Map key is an object' });
    expect(said.cause).toBe(cause);
    const other = new ProtocolError('too large', { code: 'ERR_FRAME_TOO_LARGE' });
    expect(cannotSend('put', other)).toBe(other);
    const foreign = new LoopbackSingletonError('x', { code: 'ERR_UNENCODABLE' });
    expect(cannotSend('put', foreign)).toBe(foreign);
    expect(cannotSend('put', 'a string')).toBe('a string');
  });

  it('unreceivableReply: the id of a reply whose result holds an object-keyed Map, and the error that call alone gets', () => {
    const refused = unreceivableReply(payload({ t: 'reply', id: 9, r: { index: new Map([[{}, 1]]) } }));
    expect(refused?.id).toBe(9);
    expect(refused?.error).toBeInstanceOf(ProtocolError);
    expect(refused?.error).toMatchObject({ code: 'ERR_UNENCODABLE' });
    expect(refused?.error.message).toMatch(/^The method ran, but its result cannot be received: .*result\.index\.<key #0>/);
    // Not a reply, or not a message at all: not such a reply.
    expect(unreceivableReply(Buffer.from([0xc1]))).toBeUndefined();
    expect(unreceivableReply(payload({ t: 'call', id: 9, m: 'f', a: [new Map([[{}, 1]])] }))).toBeUndefined();
  });
});
