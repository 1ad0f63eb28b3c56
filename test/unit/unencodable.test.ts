import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { decodeAnyKeys, decodeValue, encodeFrame, HEADER_BYTES } from '../../src/wire/codec.js';
import { describeRefusedKey, locateRefusedKey } from '../../src/wire/unencodable.js';

const payload = (message: unknown): Buffer => encodeFrame(message, 1 << 20).subarray(HEADER_BYTES);

describe('describeRefusedKey', () => {
  // What decodeAnyKeys makes of a peer's payload: every MessagePack map a JS Map.
  it.each([
    ['a map keyed by a map', [new Map([[new Map([['id', 1]]), 'x']])], 'a map key that is a map at args[0].<key #0>'],
    [
      'an array key, after good entries',
      [
        new Map<unknown, unknown>([
          [
            'm',
            new Map<unknown, unknown>([
              ['a', 1],
              [2, 2],
              [[1], 3],
            ]),
          ],
        ]),
      ],
      'a map key that is an array at args[0].m.<key #2>',
    ],
    ['a timestamp key', [new Map([[new Date(0), 1]])], 'a map key that is a timestamp at args[0].<key #0>'],
    ['bytes as key', [new Map([[new Uint8Array(1), 1]])], 'a map key that is bytes at args[0].<key #0>'],
    ['under a scalar key that is not an identifier', [new Map([['k k', new Map([[[1], 1]])]])], 'at args[0]["k k"].<key #0>'],
    ['in an array', [1, [2, new Map([[[], 1]])]], 'at args[1][1].<key #0>'],
  ])('%s', (_label, value, expected) => {
    expect(describeRefusedKey(value, 'args')).toContain(expected);
  });

  it('finds nothing when every key is a scalar', () => {
    const value = [
      new Map<unknown, unknown>([
        [1, 'a'],
        [true, null],
        [null, new Map([['x', [1, 2]]])],
        [undefined, 3],
        [5n, 4],
      ]),
      new Date(),
      new Uint8Array(2),
    ];
    expect(describeRefusedKey(value, 'args')).toBeUndefined();
  });

  it('stops at a depth limit instead of overflowing', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 5000; i++) deep = [deep];
    expect(describeRefusedKey(deep, 'result')).toMatch(/^a value nested deeper than \d+ levels at result(\[0\])+$/);
  });
});

describe('the codec and unencodable values', () => {
  it('encodeFrame, on a value prepareValue did not see, still refuses a symbol, a cycle and a function with ERR_UNENCODABLE', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const value of [Symbol('s'), cyclic, () => 1, { f() {} }]) {
      expect(() => encodeFrame({ t: 'reply', id: 1, r: value }, 1 << 20)).toThrow(expect.objectContaining({ code: 'ERR_UNENCODABLE' }));
    }
  });

  it('a MessagePack map keyed by a map (a foreign peer: ours sends a Map as extension 0x4d) decodes only with decodeAnyKeys', () => {
    const bytes = payload({ t: 'call', id: 7, m: 'set', a: [new Map([[{ k: 1 }, 2]])] });
    expect(() => decodeValue(bytes)).toThrow(ProtocolError);
    const value = decodeAnyKeys(bytes, true) as Map<unknown, unknown>;
    expect(value.get('id')).toBe(7);
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
