/**
 * The proxy is safe to print and to coerce: String(), template literals, `+ ''`, console.log,
 * util.inspect, util.format, JSON.stringify and Symbol.toPrimitive are answered by the proxy
 * itself, from what this process knows, and never start a call or leave a rejection behind.
 * Method names still become calls; `then` is still undefined.
 */
import { Writable } from 'node:stream';
import { Console } from 'node:console';
import { format, inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { callRemote, closeRemote, createRemote, withCallOptions } from '../../src/client/proxy.js';
import type { SupervisedConnection } from '../../src/client/supervised.js';
import { MethodNotAllowedError } from '../../src/errors.js';

interface Call {
  readonly method: string;
  readonly args: readonly unknown[];
  readonly options: unknown;
}

/** A stand-in for the supervised connection: records calls, never does I/O. */
function fakeConnection(status = { state: 'connected', pid: 4242 }) {
  const calls: Call[] = [];
  let closed = 0;
  const connection = {
    call: (method: string, args: readonly unknown[], options: unknown) => {
      calls.push({ method, args, options });
      return Promise.resolve(`${method} answered`);
    },
    close: () => {
      closed++;
      status = { ...status, state: 'disposed' };
      return Promise.resolve();
    },
    get status() {
      return status;
    },
  };
  return { connection: connection as unknown as SupervisedConnection, calls, closedCount: () => closed };
}

interface Counter {
  inc(by: number): number;
  toJSON(): { value: number };
}

let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});

afterEach(async () => {
  // Rejections are reported after the microtask queue drains: let a few macrotasks pass.
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
});

/** What console.log prints, captured. */
function logged(...values: unknown[]): string {
  let out = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      out += String(chunk);
      done();
    },
  });
  new Console({ stdout: stream, stderr: stream, colorMode: false }).log(...values);
  return out;
}

describe('printing and coercing a proxy', () => {
  it('String(), template literals, + and join give Remote<name>, without a call', () => {
    const { connection, calls } = fakeConnection();
    const proxy = createRemote<Counter>(connection, 'my-counter', undefined);
    expect(String(proxy)).toBe('Remote<my-counter>');
    expect(`${proxy}`).toBe('Remote<my-counter>');
    // biome-ignore lint/style/useTemplate: `+` converts with the "default" hint, a template literal with "string"; both are tested
    expect(proxy + '').toBe('Remote<my-counter>');
    expect(`x`.concat(proxy as unknown as string)).toBe('xRemote<my-counter>');
    expect([proxy, proxy].join(',')).toBe('Remote<my-counter>,Remote<my-counter>');
    expect(Number.isNaN(Number(proxy))).toBe(true);
    expect(new Error(proxy as unknown as string).message).toBe('Remote<my-counter>');
    expect(calls).toEqual([]);
  });

  it('answers Symbol.toPrimitive for every hint', () => {
    const { connection, calls } = fakeConnection();
    const proxy = createRemote<Counter>(connection, 'svc', undefined) as unknown as { [Symbol.toPrimitive](hint: string): unknown };
    expect(typeof proxy[Symbol.toPrimitive]).toBe('function');
    for (const hint of ['string', 'number', 'default']) expect(proxy[Symbol.toPrimitive](hint)).toBe('Remote<svc>');
    expect(calls).toEqual([]);
  });

  it('JSON.stringify gives "Remote<name>", also nested; a hosted toJSON is reached with callRemote', async () => {
    const { connection, calls } = fakeConnection();
    const proxy = createRemote<Counter>(connection, 'my-counter', undefined);
    expect(JSON.stringify(proxy)).toBe('"Remote<my-counter>"');
    expect(JSON.stringify({ counter: proxy, list: [proxy] })).toBe('{"counter":"Remote<my-counter>","list":["Remote<my-counter>"]}');
    expect(calls).toEqual([]);
    expect(await callRemote(proxy, 'toJSON', 'key')).toBe('toJSON answered');
    expect(calls).toEqual([{ method: 'toJSON', args: ['key'], options: undefined }]);
  });

  it('util.inspect and console.log show the name, the proxy state and the daemon pid', () => {
    const { connection, calls } = fakeConnection();
    const proxy = createRemote<Counter>(connection, 'my-counter', undefined);
    expect(inspect(proxy)).toBe("Remote<my-counter> { state: 'connected', pid: 4242 }");
    expect(logged(proxy)).toBe("Remote<my-counter> { state: 'connected', pid: 4242 }\n");
    expect(logged('%s and %o', proxy, proxy)).toContain('Remote<my-counter>');
    expect(logged('%s and %o', proxy, proxy)).not.toContain('null prototype');
    expect(format('%j', proxy)).toBe('"Remote<my-counter>"');
    expect(calls).toEqual([]);
  });

  it('inspect nested, past the depth limit, with colors, and with showProxy', () => {
    const { connection, calls } = fakeConnection();
    const proxy = createRemote<Counter>(connection, 'c', undefined);
    expect(inspect({ service: { counter: proxy } })).toBe("{ service: { counter: Remote<c> { state: 'connected', pid: 4242 } } }");
    expect(inspect({ a: { b: { c: proxy } } })).toBe('{ a: { b: { c: Remote<c> } } }');
    expect(inspect(proxy, { depth: 0 })).toBe("Remote<c> { state: 'connected', pid: 4242 }");
    expect(inspect([proxy], { depth: 0 })).toBe('[ Remote<c> ]');
    const colored = inspect(proxy, { colors: true });
    const special = inspect.colors[inspect.styles.special]!;
    expect(colored).toContain(`\u001b[${special[0]}mRemote<c>\u001b[${special[1]}m`);
    expect(colored).toContain(`\u001b[${inspect.colors.yellow![0]}m4242`);
    expect(inspect(proxy, { showProxy: true })).toContain('Remote<c>');
    expect(calls).toEqual([]);
  });

  it('shows a closed proxy as disposed, and a view with call options shows its deadline', async () => {
    const { connection } = fakeConnection();
    const proxy = createRemote<Counter>(connection, 'c', undefined);
    const quick = withCallOptions(proxy, { timeoutMs: 100 });
    expect(inspect(quick)).toBe("Remote<c> { state: 'connected', pid: 4242, timeoutMs: 100 }");
    expect(String(quick)).toBe('Remote<c>');
    await closeRemote(proxy);
    expect(inspect(proxy)).toBe("Remote<c> { state: 'disposed', pid: 4242 }");
    expect(String(proxy)).toBe('Remote<c>');
  });
});

describe('what the proxy still forwards', () => {
  it('method names become calls, one function per name; then is undefined; await yields the proxy', async () => {
    const { connection, calls } = fakeConnection();
    const proxy = createRemote<Counter>(connection, 'c', { timeoutMs: 5 });
    expect(proxy.inc).toBe(proxy.inc);
    expect(await proxy.inc(2)).toBe('inc answered');
    expect(await (proxy as unknown as { inspect(): Promise<unknown> }).inspect()).toBe('inspect answered');
    expect((proxy as unknown as { then?: unknown }).then).toBeUndefined();
    expect(await proxy).toBe(proxy);
    expect(calls).toEqual([
      { method: 'inc', args: [2], options: { timeoutMs: 5 } },
      { method: 'inspect', args: [], options: { timeoutMs: 5 } },
    ]);
  });

  it('names the mailbox refuses are refused locally: Object.prototype members, constructor, _-prefixed, empty, then', async () => {
    const { connection, calls } = fakeConnection();
    const loose = createRemote<Counter>(connection, 'c', undefined) as unknown as Record<string, () => Promise<unknown>>;
    for (const name of ['toString', 'valueOf', 'constructor', '__proto__', '_x', '']) {
      const error = await loose[name]!().catch((e: unknown) => e);
      expect(error, name).toBeInstanceOf(MethodNotAllowedError);
    }
    for (const name of ['toString', 'then']) expect(await callRemote(loose, name).catch((e: unknown) => e), name).toBeInstanceOf(MethodNotAllowedError);
    expect(calls).toEqual([]);
  });

  it('Symbol.asyncDispose closes the connection; callRemote refuses what is not a proxy', async () => {
    const { connection, closedCount } = fakeConnection();
    const proxy = createRemote<Counter>(connection, 'c', undefined);
    await proxy[Symbol.asyncDispose]();
    expect(closedCount()).toBe(1);
    expect(() => callRemote({}, 'inc')).toThrow(TypeError);
  });
});
