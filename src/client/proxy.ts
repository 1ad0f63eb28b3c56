/**
 * The typed proxy `Remote<T>`: every public method of T becomes a function returning a
 * Promise of its awaited result. Not thenable, `await using`-disposable, and reserving no
 * plain method name: only `then` is never forwarded.
 */
import { inspect } from 'node:util';
import { MethodNotAllowedError } from '../errors.js';
import type { CallOptions } from './connection.js';
import type { SupervisedConnection } from './supervised.js';

type AnyFunction = (...args: never[]) => unknown;

/** The public method names of T: not `_`-prefixed, not `constructor`, not `then`. */
export type PublicMethodNames<T> = {
  [K in keyof T]: K extends string
    ? K extends `_${string}` | 'constructor' | 'then'
      ? never
      : T[K] extends AnyFunction
        ? K
        : never
    : never;
}[keyof T];

/** A proxy of T in the daemon: each public method returns a Promise of its awaited result. */
export type Remote<T> = {
  readonly [K in PublicMethodNames<T>]: T[K] extends (...args: infer A) => infer R ? (...args: A) => Promise<Awaited<R>> : never;
} & AsyncDisposable;

/** A proxy's connection and per-call defaults. */
interface RemoteState {
  readonly connection: SupervisedConnection;
  readonly name: string;
  readonly callOptions: CallOptions | undefined;
}

const states = new WeakMap<object, RemoteState>();

// Names the daemon's mailbox refuses anyway: refuse them here without a round trip.
function isPrivateName(name: string): boolean {
  return name.charCodeAt(0) === 95 /* _ */ || name === 'constructor' || Object.hasOwn(Object.prototype, name);
}

function refuse(name: string): Promise<never> {
  return Promise.reject(new MethodNotAllowedError(`"${name}" is not a public method of the hosted object (private, unknown, or not a function)`));
}

/** Creates the proxy for `connection`. */
export function createRemote<T>(connection: SupervisedConnection, name: string, callOptions: CallOptions | undefined): Remote<T> {
  const methods = new Map<string, (...args: unknown[]) => Promise<unknown>>();
  const state: RemoteState = { connection, name, callOptions };
  const dispose = (): Promise<void> => connection.close();
  const proxy = new Proxy(Object.create(null) as object, {
    get(_target, property) {
      if (typeof property === 'symbol') {
        if (property === Symbol.asyncDispose) return dispose;
        if (property === inspect.custom) return () => `Remote<${name}>`;
        return undefined;
      }
      // `await proxy` must yield the proxy: never forward `then`.
      if (property === 'then') return undefined;
      let method = methods.get(property);
      if (method === undefined) {
        method = isPrivateName(property)
          ? () => refuse(property)
          : (...args: unknown[]) => connection.call(property, args, callOptions);
        methods.set(property, method);
      }
      return method;
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
 * A view of `remote` whose calls use `options` (a deadline and/or an AbortSignal); it shares
 * the connection. A call that times out or is aborted rejects its caller at once; on the
 * daemon it still runs in its turn, so sequential execution is never broken.
 * @example
 * const quick = withCallOptions(counter, { timeoutMs: 100, signal: AbortSignal.timeout(1000) });
 * await quick.inc();
 */
export function withCallOptions<T>(remote: Remote<T>, options: CallOptions): Remote<T> {
  const state = stateOf(remote);
  return createRemote<T>(state.connection, state.name, { ...state.callOptions, ...options });
}

/**
 * Closes `remote`'s connection (same as `await using`): in-flight calls get a brief grace to
 * settle, then reject with `ERR_PROXY_CLOSED` (they may still run on the daemon). Settles
 * promptly whatever the calls are doing.
 */
export function closeRemote(remote: object): Promise<void> {
  return stateOf(remote).connection.close();
}
