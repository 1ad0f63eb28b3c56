/**
 * The type-level mirror of ../wire/values.ts: what a call's arguments and results may be, so
 * that `Remote<T>` turns a parameter or result that cannot cross the wire (a function, a
 * symbol, an object with methods) into a type error at the call site, before the runtime
 * refuses it with `ERR_UNENCODABLE`.
 */

type AnyFunction = (...args: never[]) => unknown;

/** Values that cross as they are (docs/PROTOCOL.md §2, Values). */
type Leaf = string | number | boolean | bigint | null | undefined | Date | RegExp | ArrayBuffer | ArrayBufferView | Error;

declare const cannotCross: unique symbol;

/**
 * Stands where a value cannot cross the wire; nothing is assignable to it, and the compiler's
 * message quotes `Why`.
 * @example
 * // error: Argument of type '() => void' is not assignable to parameter of type
 * //        'CannotCross<"a function cannot cross the wire">'
 * await remote.subscribe(() => {});
 */
export interface CannotCross<Why extends string> {
  readonly [cannotCross]: Why;
}

/**
 * T as it arrives on the other side of the wire, with {@link CannotCross} wherever a part of
 * it cannot cross. `any` and `unknown` are left alone (the runtime still checks them).
 */
export type Crossed<T> = 0 extends 1 & T
  ? T
  : T extends Leaf
    ? T
    : T extends AnyFunction
      ? CannotCross<'a function cannot cross the wire'>
      : T extends symbol
        ? CannotCross<'a symbol cannot cross the wire'>
        : T extends ReadonlyMap<infer K, infer V>
          ? Map<Crossed<K>, Crossed<V>>
          : T extends ReadonlySet<infer V>
            ? Set<Crossed<V>>
            : T extends object
              ? { [K in keyof T]: Crossed<T[K]> }
              : T;

/** True when every part of T crosses the wire. */
export type Crosses<T> = [T] extends [Crossed<T>] ? true : false;

/** A method's parameters as the proxy accepts them. */
export type CrossingArgs<A extends readonly unknown[]> = Crosses<A> extends true ? A : { [I in keyof A]: Crossed<A[I]> };
