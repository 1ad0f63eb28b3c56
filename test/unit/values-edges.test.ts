/**
 * prepareValue (src/wire/values.ts) at its edges: Sets (copied only when an item changes), Map
 * keys named in a refusal (a bigint, a string), an object of another realm, an anonymous class,
 * a toJSON that throws, an Error's own fields and a field that cannot cross.
 */
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { prepareValue } from '../../src/wire/values.js';

function refusal(value: unknown): string {
  try {
    prepareValue(value, 'args');
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    expect(error).toMatchObject({ code: 'ERR_UNENCODABLE' });
    return (error as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('prepareValue at its edges', () => {
  it('a Set is the same Set when no item changes, a new one holding the prepared items when one does', () => {
    const plain = new Set([1, 'a', { b: 2 }]);
    expect(prepareValue([plain], 'args')).toEqual([plain]);
    expect((prepareValue([plain], 'args') as unknown[])[0]).toBe(plain);
    const map = new Map([['k', 1]]);
    const holding = new Set([1, map]);
    const prepared = (prepareValue([holding], 'args') as unknown[])[0] as Set<unknown>;
    expect(prepared).not.toBe(holding);
    expect(prepared).toBeInstanceOf(Set);
    expect(prepared.size).toBe(2);
    expect([...prepared][1]).not.toBe(map);
    expect([...holding][1]).toBe(map);
  });

  it('names the item of a Set and the key of a Map where a refusal is', () => {
    expect(refusal([new Set([1, () => 2])])).toBe('args[0].<item #1> is a function (functions and callbacks cannot cross the wire)');
    expect(refusal([new Map<unknown, unknown>([[10n, Symbol('s')]])])).toBe('args[0].get(10n) is a symbol');
    expect(refusal([new Map<unknown, unknown>([['key', Symbol('s')]])])).toBe('args[0].get("key") is a symbol');
    expect(refusal([new Map<unknown, unknown>([[null, Symbol('s')]])])).toBe('args[0].get(null) is a symbol');
    expect(refusal([new Map<unknown, unknown>([[7, Symbol('s')]])])).toBe('args[0].get(7) is a symbol');
  });

  it('an object of another realm crosses as a plain object; an anonymous class with methods is refused as such', () => {
    const foreign = runInNewContext('({ a: 1, nested: { b: [2] } })');
    expect(prepareValue([foreign], 'args')).toEqual([{ a: 1, nested: { b: [2] } }]);
    const Anonymous = (() =>
      class {
        method() {}
      })();
    expect(refusal([new Anonymous()])).toBe(
      'args[0] is an instance of an anonymous class, whose methods cannot cross (send a plain object, or give the class a toJSON())',
    );
  });

  it('a toJSON that throws, or returns what cannot cross, is refused at its place', () => {
    const throwing = {
      toJSON: 1,
      nested: new (class Thrower {
        toJSON() {
          throw new Error('no json');
        }
      })(),
    };
    expect(refusal([throwing])).toBe('args[0].nested threw when read (Error: no json)');
    const returning = new (class Returner {
      toJSON() {
        return { f: () => 1 };
      }
    })();
    expect(refusal({ r: returning })).toBe('args.r.f is a function (functions and callbacks cannot cross the wire)');
  });

  it('an Error carries its own fields, not inherited ones; an AggregateError its errors; a field that cannot cross is named', () => {
    class Detailed extends Error {}
    (Detailed.prototype as unknown as { inherited: number }).inherited = 1;
    const error = Object.assign(new Detailed('m'), { detail: new Map([['a', 1]]), count: 2 });
    expect(() => prepareValue([error], 'args')).not.toThrow();
    const aggregate = new AggregateError([new Error('one')], 'many');
    expect(() => prepareValue([aggregate], 'args')).not.toThrow();
    const bad = Object.assign(new Error('m'), { callback: () => 1 });
    expect(refusal([bad])).toBe('args[0].callback is a function (functions and callbacks cannot cross the wire)');
    const badCause = new Error('m', { cause: Symbol('c') });
    expect(refusal([badCause])).toBe('args[0].cause is a symbol');
    const badErrors = new AggregateError([() => 1], 'many');
    expect(refusal([badErrors])).toMatch(/^args\[0\]\.errors\[0\] is a function/);
    const throwingName = new Error('m');
    Object.defineProperty(throwingName, 'name', {
      get() {
        return () => 1;
      },
    });
    expect(() => prepareValue([throwingName], 'args')).not.toThrow();
  });
});
