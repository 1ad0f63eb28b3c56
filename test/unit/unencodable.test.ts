import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { decodeAnyKeys, decodeValue, encodeFrame, HEADER_BYTES } from '../../src/wire/codec.js';
import { describeUnencodable, locateRefusedKey, withUnencodablePath } from '../../src/wire/unencodable.js';

const payload = (message: unknown): Buffer => encodeFrame(message, 1 << 20).subarray(HEADER_BYTES);

describe('describeUnencodable', () => {
  const cyclic: Record<string, unknown> = { n: 1 };
  cyclic.again = [cyclic];
  class Point {
    constructor(readonly x: unknown) {}
  }

  it.each([
    ['a Map keyed by an object', [new Map([[{ id: 1 }, 'x']])], 'a Map key that is an object at args[0].<key #0>'],
    [
      'an array key, after good entries',
      [
        {
          m: new Map<unknown, unknown>([
            ['a', 1],
            [2, 2],
            [[1], 3],
          ]),
        },
      ],
      'a Map key that is an array at args[0].m.<key #2>',
    ],
    ['a Date key', [new Map([[new Date(0), 1]])], 'a Map key that is a Date at args[0].<key #0>'],
    ['a class instance key', [new Map([[new Point(1), 1]])], 'a Map key that is a Point at args[0].<key #0>'],
    ['bytes as key', [new Map([[new Uint8Array(1), 1]])], 'a Map key that is bytes at args[0].<key #0>'],
    ['a value under a scalar Map key', [new Map([['k k', { s: Symbol('x') }]])], 'a symbol at args[0]["k k"].s'],
    ['a symbol in an array', [1, [2, Symbol('x')]], 'a symbol at args[1][1]'],
    ['a cycle', [cyclic], 'a cycle (a value that contains itself) at args[0].again[0]'],
    ['a BigInt past 64 bits', [{ big: 2n ** 64n }], 'a BigInt outside the 64-bit range at args[0].big'],
    ['a Set member', [new Set([Symbol('s')])], 'a symbol at args[0][0]'],
    ['an Error cause', [new Error('e', { cause: { s: Symbol('x') } })], 'a symbol at args[0].cause.s'],
    ['a class instance field', [new Point(Symbol('p'))], 'a symbol at args[0].x'],
  ])('%s', (_label, value, expected) => {
    expect(describeUnencodable(value, 'args')).toContain(expected);
  });

  it('finds nothing in what crosses (scalar keys, functions, dates, bytes, 64-bit BigInts, a shared non-cyclic object)', () => {
    const shared = { s: 1 };
    const value = [
      new Map<unknown, unknown>([
        [1, 'a'],
        [true, null],
        [null, 2],
        [undefined, 3],
        [5n, 4],
      ]),
      () => 1,
      new Date(),
      new Uint8Array(2),
      -(2n ** 63n),
      [shared, shared],
    ];
    expect(describeUnencodable(value, 'args')).toBeUndefined();
  });

  it('stops at a depth limit instead of overflowing', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 5000; i++) deep = [deep];
    expect(describeUnencodable(deep, 'result')).toMatch(/^a value nested deeper than \d+ levels at result(\[0\])+$/);
  });

  it('never throws, even on a getter that throws', () => {
    const value = {
      get bad(): never {
        throw new Error('getter');
      },
    };
    expect(describeUnencodable(value, 'args')).toBeUndefined();
  });
});

describe('the codec and unencodable values', () => {
  it('encodeFrame refuses a symbol, a cycle and a huge BigInt with ERR_UNENCODABLE', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const value of [Symbol('s'), cyclic, 2n ** 70n]) {
      expect(() => encodeFrame({ t: 'reply', id: 1, r: value }, 1 << 20)).toThrow(expect.objectContaining({ code: 'ERR_UNENCODABLE' }));
    }
  });

  it('a Map keyed by an object encodes, but decodes only with decodeAnyKeys', () => {
    const bytes = payload({ t: 'call', id: 7, m: 'set', a: [new Map([[{ k: 1 }, 2]])] });
    expect(() => decodeValue(bytes)).toThrow(ProtocolError);
    const value = decodeAnyKeys(bytes, true) as Map<unknown, unknown>;
    expect(value.get('id')).toBe(7);
  });

  it('withUnencodablePath names the path of an ERR_UNENCODABLE and passes other errors through', () => {
    const args = [1, { s: Symbol('x') }];
    let error: unknown;
    try {
      encodeFrame({ t: 'call', id: 1, m: 'f', a: args }, 1 << 20);
    } catch (e) {
      error = e;
    }
    const named = withUnencodablePath(error, args, 'args', 'Cannot send') as ProtocolError;
    expect(named.code).toBe('ERR_UNENCODABLE');
    expect(named.message).toBe('Cannot send: a symbol at args[1].s');
    const other = new ProtocolError('too big', { code: 'ERR_FRAME_TOO_LARGE' });
    expect(withUnencodablePath(other, args, 'args', 'Cannot send')).toBe(other);
  });
});

describe('locateRefusedKey', () => {
  it('finds the id, the method and where the key is in a call or a reply', () => {
    const call = payload({ t: 'call', id: 3, m: 'put', a: ['x', { index: new Map([[['k'], 1]]) }] });
    expect(locateRefusedKey(call, true, 'call')).toEqual({ id: 3, method: 'put', where: expect.stringContaining('args[1].index.<key #0>') });
    const reply = payload({ t: 'reply', id: 9, r: new Map([[{}, 1]]) });
    expect(locateRefusedKey(reply, false, 'reply')).toMatchObject({ id: 9, where: expect.stringContaining('result.<key #0>') });
  });

  it('is undefined for anything else: another type, no id, a payload the screen refuses, garbage', () => {
    expect(locateRefusedKey(payload({ t: 'reply', id: 9, r: new Map([[{}, 1]]) }), true, 'call')).toBeUndefined();
    expect(locateRefusedKey(payload({ t: 'call', m: 'f', a: [new Map([[{}, 1]])] }), true, 'call')).toBeUndefined();
    // A structured-clone reference (ext 0x69) inside: refused by the screen, never decoded.
    expect(locateRefusedKey(Uint8Array.from([0x92, 0xd6, 0x69, 0, 0, 0, 0, 0xc0]), true, 'call')).toBeUndefined();
    expect(locateRefusedKey(Uint8Array.from([0xc1]), true, 'call')).toBeUndefined();
  });
});
