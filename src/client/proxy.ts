/**
 * The typed proxy `Remote<T>`: every public method of T becomes a function returning a
 * Promise of its awaited result. Not thenable, `await using`-disposable, and safe to print
 * and coerce: `String(proxy)`, `${proxy}`, `JSON.stringify(proxy)` and `util.inspect(proxy)`
 * are answered here, never by a call. The proxy answers two names itself and never forwards
 * them: `then` (undefined, so `await proxy` yields the proxy) and `toJSON` (so JSON gives
 * `"Remote<name>"`); {@link callRemote} reaches a hosted method of such a name.
 */
import { inspect, type InspectOptionsStylized } from 'node:util';
import { MethodNotAllowedError } from '../errors.js';
import { isCallableName } from '../method-names.js';
import type { CallOptions } from './connection.js';
import type { CannotCross, Crosses, CrossingArgs } from './crossing.js';
import { streamable } from './stream.js';
import type { SupervisedConnection } from './supervised.js';

type AnyFunction = (...args: never[]) => unknown;

/**
 * The public method names of T: not `_`-prefixed, not `constructor` or another
 * `Object.prototype` member (the mailbox refuses those), not `then` or `toJSON` (answered by
 * the proxy itself).
 */
export type PublicMethodNames<T> = {
  [K in keyof T]: K extends string
    ? K extends `_${string}` | 'constructor' | 'toString' | 'toLocaleString' | 'valueOf' | 'hasOwnProperty' | 'isPrototypeOf' | 'propertyIsEnumerable' | 'then' | 'toJSON'
      ? never
      : T[K] extends AnyFunction
        ? K
        : never
    : never;
}[keyof T];

/**
 * A proxy of T in the daemon: each public method returns a Promise of its awaited result.
 * What cannot cross the wire is a type error where the method is called: a parameter of
 * such a type (a callback) expects {@link CannotCross}, and a method whose result cannot
 * cross is not callable at all (its type is a `CannotCross` naming it).
 */
export type Remote<T> = {
  readonly [K in PublicMethodNames<T>]: T[K] extends (...args: infer A) => infer R
    ? [IsAny<Awaited<R>>, Awaited<R>] extends [false, AsyncIterable<infer X>]
      ? Crosses<X> extends true
        ? (...args: CrossingArgs<A>) => RemoteIterable<X>
        : CannotCross<`the items of ${K & string}() cannot cross the wire (a function, a symbol or an object with methods)`>
      : Crosses<Awaited<R>> extends true
        ? (...args: CrossingArgs<A>) => Promise<Awaited<R>>
        : CannotCross<`the result of ${K & string}() cannot cross the wire (a function, a symbol or an object with methods)`>
    : never;
} & AsyncDisposable;

/**
 * What the proxy returns for a method that returns an async iterable (an `async *` method):
 * its items, pulled with credit. Ending the iteration early (`break`, `return()`, disposal, or
 * an abort of the call's signal) ends the iterator on the daemon; its `finally` runs there.
 * @example
 * for await (const change of proxy.changes()) {
 *   if (change.last) break; // the daemon's generator runs its finally
 * }
 */
export type RemoteIterable<X> = AsyncIterable<X> & AsyncDisposable;

/** True for `any` (which would otherwise take both branches of a conditional type). */
type IsAny<T> = 0 extends 1 & T ? true : false;

/** A proxy's connection and per-call defaults. */
interface RemoteState {
  readonly connection: SupervisedConnection;
  readonly name: string;
  readonly callOptions: CallOptions | undefined;
  /** One function per method name, so `proxy.inc === proxy.inc`. */
  readonly methods: Map<string, (...args: unknown[]) => Promise<unknown>>;
}

const states = new WeakMap<object, RemoteState>();

function refuse(name: string): Promise<never> {
  return Promise.reject(new MethodNotAllowedError(`"${name}" is not a public method of the hosted object (private, unknown, or not a function)`));
}

/** The function that calls `name` on the hosted object (or refuses it without a round trip). */
function remoteMethod(state: RemoteState, name: string): (...args: unknown[]) => Promise<unknown> {
  let method = state.methods.get(name);
  if (method === undefined) {
    const { connection, callOptions } = state;
    // Names the daemon's mailbox refuses anyway are refused here, without a round trip.
    // Every call's promise is also iterable and disposable, as the stream it may resolve to.
    method = isCallableName(name) ? (...args: unknown[]) => streamable(connection.call(name, args, callOptions)) : () => refuse(name);
    state.methods.set(name, method);
  }
  return method;
}

/**
 * What `util.inspect` and `console.log` show: `Remote<name> { state: 'connected', pid: 4242 }`,
 * from what this process knows (no I/O, no call); just `Remote<name>` past the depth limit.
 */
function inspectRemote(state: RemoteState, depth: number, options: InspectOptionsStylized, inspectValue: typeof inspect): string {
  const head = options.stylize(`Remote<${state.name}>`, 'special');
  if (depth < 0) return head;
  const { timeoutMs } = state.callOptions ?? {};
  const shown = { ...state.connection.status, ...(timeoutMs === undefined ? {} : { timeoutMs }) };
  // Its fields are primitives: depth 0 shows them all, even when the proxy is at the limit.
  return `${head} ${inspectValue(shown, { ...options, depth: 0 })}`;
}

/** Creates the proxy for `connection`. */
export function createRemote<T>(connection: SupervisedConnection, name: string, callOptions: CallOptions | undefined): Remote<T> {
  const state: RemoteState = { connection, name, callOptions, methods: new Map() };
  const label = `Remote<${name}>`;
  const dispose = (): Promise<void> => connection.close();
  // String(proxy), `${proxy}`, proxy + '': coercion asks Symbol.toPrimitive first, so it never
  // reaches toString/valueOf (private names, whose refusal would be an unhandled rejection).
  const toPrimitive = (): string => label;
  const toJSON = (): string => label;
  const custom = (depth: number, options: InspectOptionsStylized, inspectValue: typeof inspect): string => inspectRemote(state, depth, options, inspectValue);
  // util.inspect (console.log) looks at a proxy's target, never through its traps: the target
  // carries the custom inspect function. Configurable, so the traps below keep their say.
  const target = Object.create(null) as object;
  Object.defineProperty(target, inspect.custom, { value: custom, configurable: true });
  const proxy = new Proxy(target, {
    get(_target, property) {
      if (typeof property === 'symbol') {
        if (property === Symbol.asyncDispose) return dispose;
        if (property === Symbol.toPrimitive) return toPrimitive;
        if (property === inspect.custom) return custom;
        return undefined;
      }
      // `await proxy` must yield the proxy: never forward `then`.
      if (property === 'then') return undefined;
      if (property === 'toJSON') return toJSON;
      return remoteMethod(state, property);
    },
    has: () => false,
    set: () => false,
    defineProperty: () => false,
    deleteProperty: () => false,
  });
  states.set(proxy, state);
  return proxy as Remote<T>;
}

function stateOf(remote: object): RemoteState {
  const state = states.get(remote);
  if (!state) throw new TypeError('Expected a proxy returned by service.proxy()');
  return state;
}

/**
 * The supervised connection behind `remote` (for ./events.ts).
 * @throws {TypeError} when `remote` is not a proxy from `service.proxy()`.
 */
export function connectionOf(remote: object): SupervisedConnection {
  return stateOf(remote).connection;
}

/**
 * A view of `remote` whose calls use `options` (a deadline and/or an AbortSignal); it shares
 * the connection. A call that times out or is aborted rejects its caller at once, and the
 * daemon is told: a call that has not started is withdrawn and never runs (a call past its
 * deadline when its turn comes is not run either); a running one sees its `callSignal()`
 * (from `loopback-singleton/daemon`) abort, and finishes as its method decides.
 * @example
 * const quick = withCallOptions(counter, { timeoutMs: 100, signal: AbortSignal.timeout(1000) });
 * await quick.inc();
 */
export function withCallOptions<T>(remote: Remote<T>, options: CallOptions): Remote<T> {
  const state = stateOf(remote);
  return createRemote<T>(state.connection, state.name, { ...state.callOptions, ...options });
}

/**
 * Calls `method` on the hosted object through `remote`, like `remote[method](...args)`, also
 * for the names the proxy answers itself (`toJSON`, `then`): the way to reach a hosted
 * `toJSON()`. The mailbox's rules still apply (`_`-prefixed and `Object.prototype` names are
 * refused with `MethodNotAllowedError`; `then` is always refused).
 * @example
 * const snapshot = await callRemote(store, 'toJSON');
 */
export function callRemote(remote: object, method: string, ...args: unknown[]): Promise<unknown> {
  return remoteMethod(stateOf(remote), method)(...args);
}

/**
 * Closes `remote`'s connection (same as `await using`): in-flight calls get a brief grace to
 * settle, then reject with `ERR_PROXY_CLOSED` (they may still run on the daemon). Settles
 * promptly whatever the calls are doing.
 */
export function closeRemote(remote: object): Promise<void> {
  return stateOf(remote).connection.close();
}
