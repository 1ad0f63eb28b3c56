/**
 * Type tests of `Remote<T>`, checked by `tsc -p test/types` (npm run typecheck, and
 * test/unit/remote-types.test.ts): each `@ts-expect-error` must be an error, or tsc fails.
 * What cannot cross the wire is refused where the method is called.
 */
import type { Remote } from '../../src/index.js';

interface Point {
  x: number;
  y: number;
}

interface Tree {
  value: number;
  children: Tree[];
}

class Counter {
  inc(by?: number): number {
    return by ?? 1;
  }
  onChange(_listener: (value: number) => void): void {}
  withOptions(_options: { name: string; onChange: () => void }): void {}
  maybeCallback(_value: string | (() => void)): void {}
  getCallback(): () => void {
    return () => {};
  }
  getObjectWithMethods(): { value: number; get(): number } {
    return { value: 1, get: () => 1 };
  }
  async getLater(): Promise<() => void> {
    return () => {};
  }
  getSymbol(): symbol {
    return Symbol('s');
  }
  values(
    _map: Map<string, Date>,
    _set: Set<bigint>,
    _bytes: Float64Array,
    _error: Error,
    _point: Point,
    _tree: Tree,
    _nothing: undefined | null,
  ): [Map<Point, Set<number>>, Uint8Array, Error, Tree] {
    return [new Map(), new Uint8Array(), new Error(), { value: 1, children: [] }];
  }
  anything(value: unknown): unknown {
    return value;
  }
}

declare const counter: Remote<Counter>;
declare const point: Point;
declare const tree: Tree;

export async function accepted(): Promise<void> {
  const n: number = await counter.inc();
  await counter.inc(2);
  await counter.maybeCallback('text');
  const [map, bytes, error, back]: [Map<Point, Set<number>>, Uint8Array, Error, Tree] = await counter.values(
    new Map([['a', new Date()]]),
    new Set([1n]),
    new Float64Array(1),
    new TypeError('x'),
    point,
    tree,
    undefined,
  );
  // `unknown` is left to the runtime check.
  await counter.anything(() => {});
  void [n, map, bytes, error, back];
}

export async function refused(): Promise<void> {
  // @ts-expect-error a callback parameter cannot cross
  await counter.onChange((value: number) => console.log(value));
  // @ts-expect-error a callback inside an object parameter cannot cross
  await counter.withOptions({ name: 'x', onChange: () => {} });
  // @ts-expect-error the function member of a union parameter cannot cross
  await counter.maybeCallback(() => {});
  // @ts-expect-error a result that is a function: the method is not callable
  await counter.getCallback();
  // @ts-expect-error a result with a method
  await counter.getObjectWithMethods();
  // @ts-expect-error an async method resolving to a function
  await counter.getLater();
  // @ts-expect-error a symbol result
  await counter.getSymbol();
  // @ts-expect-error a wrong argument type is still wrong
  await counter.inc('1');
}
