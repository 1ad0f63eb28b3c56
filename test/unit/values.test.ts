/**
 * prepareValue (src/wire/values.ts) and the codec together: the bytes docs/PROTOCOL.md §2
 * specifies for each type, values decoding as they were encoded, nothing copied when nothing
 * needs it, and ERR_UNENCODABLE naming the path of what cannot cross.
 */
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { decodeValue, encodeValue } from '../../src/wire/codec.js';
import { MAX_DEPTH, prepareValue } from '../../src/wire/values.js';

const hex = (value: unknown): string => encodeValue(prepareValue(value, 'args')).toString('hex');
const roundTrip = (value: unknown): unknown => decodeValue(encodeValue(prepareValue(value, 'args')));

function refusal(value: unknown, root = 'args'): ProtocolError {
  try {
    prepareValue(value, root);
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    expect((error as ProtocolError).code).toBe('ERR_UNENCODABLE');
    return error as ProtocolError;
  }
  throw new Error('expected ERR_UNENCODABLE');
}

describe('the bytes of each type (docs/PROTOCOL.md §2, Values)', () => {
  it.each([
    ['undefined: fixext 1, type 0', undefined, 'd40000'],
    ['null: nil', null, 'c0'],
    [
      'a Map: fixext 1 type 0x4d, then an array of [key, value] pairs',
      new Map<unknown, unknown>([
        ['a', 1],
        [[2], null],
      ]),
      'd44d00' + '92' + '92a16101' + '929102c0',
    ],
    ['a Set: fixext 1 type 0x73, then an array of its values', new Set([1, 'b']), 'd47300' + '9201a162'],
    ['a Date: timestamp 64 (type -1: nanoseconds << 2, then the seconds)', new Date(1500), 'd7ff' + '77359400' + '00000001'],
    ['a Date on a whole second: timestamp 32', new Date(2000), 'd6ff00000002'],
    ['a BigInt in int64', -2n, 'd3fffffffffffffffe'],
    ['a BigInt in uint64', 2n ** 64n - 1n, 'cfffffffffffffffff'],
    ["a BigInt past 64 bits: ext 0x42, two's complement big-endian", 2n ** 64n, 'd842' + '0000000000000001' + '0000000000000000'],
    ['a negative BigInt past 64 bits', -(2n ** 64n) - 1n, 'd842' + 'fffffffffffffffe' + 'ffffffffffffffff'],
    ['a Buffer: bin', Buffer.from([1, 2]), 'c4020102'],
    ['a Uint8Array: ext 0x74, element type 1', new Uint8Array([1, 2]), 'c703740101' + '02'],
    ['an Int16Array: ext 0x74, element type 3, little-endian', new Int16Array([-2]), 'c7037403feff'],
    ['a Float64Array: element type 8', new Float64Array([1]), 'c70974080000000000' + '00f03f'],
    ['an ArrayBuffer: element type 16', new Uint8Array([9]).buffer, 'c702741009'],
  ])('%s', (_label, value, expected) => {
    expect(hex(value)).toBe(expected);
    expect(roundTrip(value)).toEqual(value);
  });

  it('an Error: fixext 1 type 0x45, then a map of name, message, stack, code, its own properties and cause', () => {
    const error = Object.assign(new RangeError('m', { cause: 'c' }), { code: 'E_X', extra: 1 });
    error.stack = 's';
    expect(hex(error)).toBe(
      'd44500' +
        'de0006' +
        'a46e616d65aa52616e67654572726f72' +
        'a76d657373616765a16d' +
        'a5737461636ba173' +
        'a4636f6465a3455f58' +
        'a56578747261' +
        '01' +
        'a563617573' +
        '65a163',
    );
    const back = roundTrip(error) as RangeError & { code: string; extra: number };
    expect(back).toBeInstanceOf(RangeError);
    expect([back.name, back.message, back.stack, back.code, back.extra, back.cause]).toEqual(['RangeError', 'm', 's', 'E_X', 1, 'c']);
    expect(Object.keys(back)).toEqual(['code', 'extra']);
  });

  it('an Error of another name comes back an Error with that name; an AggregateError with its errors; no stack stays no stack', () => {
    class HttpError extends Error {
      override name = 'HttpError';
      status = 404;
    }
    const back = roundTrip(new HttpError('not found')) as Error & { status: number };
    expect([back.constructor, back.name, back.status]).toEqual([Error, 'HttpError', 404]);
    const aggregate = roundTrip(new AggregateError([new Error('a'), 2], 'both')) as AggregateError;
    expect(aggregate).toBeInstanceOf(AggregateError);
    expect(aggregate.errors).toEqual([new Error('a'), 2]);
    const bare = new Error('bare');
    delete (bare as { stack?: string }).stack;
    expect((roundTrip(bare) as Error).stack).toBeUndefined();
  });

  it('a Map keeps keys of any kind and its order; undefined and null stay apart, in objects and arrays', () => {
    const key = { k: [1] };
    const back = roundTrip(
      new Map<unknown, unknown>([
        [key, 'object'],
        [undefined, 'u'],
        [null, 'n'],
        [1n, 'big'],
        ['1', 'string'],
      ]),
    ) as Map<unknown, unknown>;
    expect([...back.keys()]).toEqual([{ k: [1] }, undefined, null, 1n, '1']);
    expect(roundTrip({ u: undefined, n: null, a: [undefined, null] })).toStrictEqual({ u: undefined, n: null, a: [undefined, null] });
  });
});

describe('prepareValue', () => {
  it('returns the very value when nothing in it needs a change (no copy on the hot path)', () => {
    const args = [1, 'two', { three: [3, new Date(0), new Uint8Array(1), new Set([1])] }, null];
    expect(prepareValue(args, 'args')).toBe(args);
    expect(prepareValue(args[2], 'args')).toBe(args[2]);
  });

  it('copies only the containers above a Map or an Error, and never changes the value given', () => {
    const inner = { keep: [1] };
    const map = new Map([['a', 1]]);
    const args = [inner, { map }];
    const prepared = prepareValue(args, 'args') as unknown[];
    expect(prepared).not.toBe(args);
    expect(prepared[0]).toBe(inner);
    expect(args[1]).toEqual({ map });
    expect((args[1] as { map: unknown }).map).toBe(map);
  });

  it('a shared object that is no cycle is sent twice', () => {
    const shared = { s: 1 };
    expect(roundTrip([shared, { again: shared }])).toEqual([{ s: 1 }, { again: { s: 1 } }]);
  });

  it('a class instance with a toJSON is sent as its toJSON()', () => {
    class Money {
      constructor(readonly cents: number) {}
      toJSON(): string {
        return `${this.cents / 100} EUR`;
      }
    }
    expect(roundTrip({ price: new Money(250) })).toEqual({ price: '2.5 EUR' });
  });

  it.each([
    ['a callback in an object', [{ onChange: () => {} }], 'args[0].onChange is a function'],
    ['a function as the argument', [() => {}], 'args[0] is a function'],
    ['a method shorthand', [{ get() {} }], 'args[0].get is a function'],
    ['a symbol', [1, [2, Symbol('x')]], 'args[1][1] is a symbol'],
    ['a key that is not an identifier', [{ 'a b': Symbol('x') }], 'args[0]["a b"] is a symbol'],
    ['a Map value', [new Map([['k', () => 1]])], 'args[0].get("k") is a function'],
    ['a Map value under a number key', [new Map([[7, () => 1]])], 'args[0].get(7) is a function'],
    ['a Map value under an object key', [new Map([[{}, () => 1]])], 'args[0].<value #0> is a function'],
    ['a Map key', [new Map([[Symbol('k'), 1]])], 'args[0].<key #0> is a symbol'],
    ['a Set item', [new Set([1, () => 1])], 'args[0].<item #1> is a function'],
    ['an Error cause', [new Error('e', { cause: { f: () => 1 } })], 'args[0].cause.f is a function'],
    ['an Error property', [Object.assign(new Error('e'), { retry: () => 1 })], 'args[0].retry is a function'],
    [
      'a class instance with methods',
      [
        {
          at: new (class Handle {
            close() {}
          })(),
        },
      ],
      'args[0].at is an instance of Handle, whose methods cannot cross',
    ],
    [
      'a class instance with a getter',
      [
        new (class Lazy {
          get value() {
            return 1;
          }
        })(),
      ],
      'args[0] is an instance of Lazy',
    ],
    ['a Promise', [Promise.resolve(1)], 'args[0] is an instance of Promise'],
    ['a WeakMap', [new WeakMap()], 'args[0] is an instance of WeakMap'],
    [
      'a getter that throws',
      [
        {
          get bad() {
            throw new Error('nope');
          },
        },
      ],
      'args[0].bad threw when read (Error: nope)',
    ],
  ])('refuses %s, naming its path', (_label, value, expected) => {
    expect(refusal(value).message.startsWith(expected)).toBe(true);
  });

  it('refuses a cycle, naming where it closes and what it returns to', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = { back: [cyclic] };
    expect(refusal([cyclic]).message).toBe('args[0].self.back[0] is args[0] again (a cycle: a value that contains itself)');
    const map = new Map<string, unknown>();
    map.set('me', map);
    expect(refusal(map, 'result').message).toBe('result.get("me") is result again (a cycle: a value that contains itself)');
  });

  it(`refuses a value nested deeper than ${MAX_DEPTH} levels, and encodes one just within`, () => {
    const nest = (depth: number): unknown => {
      let value: unknown = [{}];
      for (let i = 1; i < depth; i++) value = [value];
      return value;
    };
    expect(refusal(nest(MAX_DEPTH + 1)).message).toMatch(/^args(\[0\])+ is nested deeper than 1000 levels$/);
    expect(() => encodeValue(prepareValue(nest(MAX_DEPTH - 1), 'args'))).not.toThrow();
  });
});
