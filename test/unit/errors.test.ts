import { describe, expect, it } from 'vitest';
import {
  ConnectionFailedError,
  DaemonConnectionError,
  type ErrorCode,
  ErrorCodes,
  errorFromWire,
  errorToWire,
  FactoryError,
  FactoryMismatchError,
  HandshakeError,
  RestartLimitError,
  isErrorCode,
  LoopbackSingletonError,
  MailboxFullError,
  MethodNotAllowedError,
  ProtocolError,
  RegistryError,
  RemoteError,
  remoteErrorToWire,
  type WireError,
} from '../../src/errors.js';
import * as publicApi from '../../src/index.js';
import { decodeValue, encodeValue } from '../../src/wire/codec.js';

type AnyErrorClass = typeof LoopbackSingletonError;

/** The error tree (the README's Errors table): class, parent, name, default code. */
const TREE: ReadonlyArray<readonly [AnyErrorClass, AnyErrorClass | ErrorConstructor, string, ErrorCode]> = [
  [LoopbackSingletonError, Error, 'LoopbackSingletonError', 'ERR_LOOPBACK_SINGLETON'],
  [DaemonConnectionError, LoopbackSingletonError, 'DaemonConnectionError', 'ERR_DAEMON_CONNECTION'],
  [ConnectionFailedError, DaemonConnectionError, 'ConnectionFailedError', 'ERR_CONNECTION_FAILED'],
  [RegistryError, ConnectionFailedError, 'RegistryError', 'ERR_REGISTRY_UNAVAILABLE'],
  [HandshakeError, DaemonConnectionError, 'HandshakeError', 'ERR_HANDSHAKE'],
  [RestartLimitError, DaemonConnectionError, 'RestartLimitError', 'ERR_RESTART_LIMIT'],
  [ProtocolError, LoopbackSingletonError, 'ProtocolError', 'ERR_PROTOCOL'],
  [FactoryMismatchError, LoopbackSingletonError, 'FactoryMismatchError', 'ERR_FACTORY_MISMATCH'],
  [FactoryError, LoopbackSingletonError, 'FactoryError', 'ERR_FACTORY'],
  [MethodNotAllowedError, LoopbackSingletonError, 'MethodNotAllowedError', 'ERR_METHOD_NOT_ALLOWED'],
  [MailboxFullError, LoopbackSingletonError, 'MailboxFullError', 'ERR_MAILBOX_FULL'],
  [RemoteError as unknown as AnyErrorClass, LoopbackSingletonError, 'RemoteError', 'ERR_REMOTE'],
];

const CLASSES_BY_NAME = new Map(TREE.map(([Class, , name]) => [name, Class]));

/** An instance of `Class` made the way the library makes it. */
function make(Class: AnyErrorClass, code?: ErrorCode): LoopbackSingletonError {
  if ((Class as unknown) === RemoteError) {
    return new RemoteError({ remoteName: 'TypeError', remoteMessage: 'boom', remoteStack: 'TypeError: boom\n    at f', remoteCode: 'E_X' });
  }
  return new Class('something failed', code === undefined ? {} : { code });
}

describe('the error tree', () => {
  it.each(TREE)('%o extends the right parent and has its name and default code', (Class, Parent, name, code) => {
    const error = make(Class);
    expect(error).toBeInstanceOf(LoopbackSingletonError);
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(Parent);
    expect(Object.getPrototypeOf(Class)).toBe(Parent);
    expect(error.name).toBe(name);
    expect(error.code).toBe(code);
    expect(Class.defaultCode).toBe(code);
    expect(ErrorCodes[code]).toBe(name);
  });

  it.each(TREE)('%o is exported from the package entry', (Class, _Parent, name) => {
    expect((publicApi as Record<string, unknown>)[name]).toBe(Class);
  });

  it('covers every class that ErrorCodes names', () => {
    expect(new Set(Object.values(ErrorCodes))).toEqual(new Set(CLASSES_BY_NAME.keys()));
    expect(publicApi.ErrorCodes).toBe(ErrorCodes);
  });

  it('keeps an explicit code and a cause', () => {
    const cause = new Error('root');
    const error = new HandshakeError('nope', { code: 'ERR_AUTH_FAILED', cause });
    expect(error.code).toBe('ERR_AUTH_FAILED');
    expect(error.cause).toBe(cause);
    expect(error).toBeInstanceOf(DaemonConnectionError);
  });

  it('has no own cause when none is given', () => {
    expect(Object.hasOwn(new ProtocolError('x'), 'cause')).toBe(false);
  });

  it('RegistryError is a ConnectionFailedError that names its registry, where known', () => {
    const cause = new Error('14 UNAVAILABLE');
    const error = new RegistryError('etcd did not answer', { registry: 'etcd://127.0.0.1:2379', cause });
    expect(error).toBeInstanceOf(ConnectionFailedError);
    expect(error.code).toBe('ERR_REGISTRY_UNAVAILABLE');
    expect(error.registry).toBe('etcd://127.0.0.1:2379');
    expect(error.cause).toBe(cause);
    // Across the wire (a daemon's boot report), the class and code come back; the endpoints stay in the message.
    const rebuilt = errorFromWire(errorToWire(error));
    expect(rebuilt).toBeInstanceOf(RegistryError);
    expect((rebuilt as RegistryError).registry).toBeUndefined();
  });

  it('RemoteError keeps what the hosted method threw', () => {
    const error = new RemoteError({ remoteName: 'RangeError', remoteMessage: 'too far', remoteStack: 'RangeError: too far\n    at g', remoteCode: 42 });
    expect(error.code).toBe('ERR_REMOTE');
    expect(error.remoteName).toBe('RangeError');
    expect(error.remoteMessage).toBe('too far');
    expect(error.remoteStack).toBe('RangeError: too far\n    at g');
    expect(error.remoteCode).toBe(42);
  });

  it('FactoryError keeps the daemon stack, name and code', () => {
    const error = new FactoryError('cannot import', { remoteName: 'SyntaxError', remoteStack: 'SyntaxError: x\n    at daemon', remoteCode: 'ERR_X' });
    expect(error.remoteStack).toBe('SyntaxError: x\n    at daemon');
    expect(error.remoteName).toBe('SyntaxError');
    expect(error.remoteCode).toBe('ERR_X');
    expect(error.stack).toContain('SyntaxError: x\n    at daemon');
  });
});

describe('isErrorCode', () => {
  it.each(Object.keys(ErrorCodes))('accepts %s', (code) => {
    expect(isErrorCode(code)).toBe(true);
  });

  it.each([['ERR_NOPE'], [''], ['toString'], ['__proto__'], ['constructor'], [42], [undefined], [null]])('rejects %o', (code) => {
    expect(isErrorCode(code)).toBe(false);
  });
});

describe('errorToWire / errorFromWire', () => {
  it.each(Object.entries(ErrorCodes))('%s round-trips into %s with the same code', (code, className) => {
    const Class = CLASSES_BY_NAME.get(className)!;
    const original = make(Class, code as ErrorCode);
    const wire = errorToWire(original);
    expect(wire.code).toBe(code);
    expect(wire.name).toBe(className);
    // Through the real codec, as it travels.
    const rebuilt = errorFromWire(decodeValue(encodeValue(wire)) as WireError);
    expect(rebuilt.constructor).toBe(Class);
    expect(rebuilt.code).toBe(code);
    expect(rebuilt).toBeInstanceOf(LoopbackSingletonError);
    if (className !== 'RemoteError') expect(rebuilt.message).toBe(original.message);
  });

  it('turns an Error a hosted method threw into a RemoteError with its name, message, stack and code', () => {
    const thrown = Object.assign(new TypeError('boom'), { code: 'E_BOOM' });
    const wire = errorToWire(thrown);
    expect(wire).toMatchObject({ code: 'ERR_REMOTE', name: 'TypeError', message: 'boom', remoteCode: 'E_BOOM' });
    const rebuilt = errorFromWire(decodeValue(encodeValue(wire)) as WireError);
    expect(rebuilt).toBeInstanceOf(RemoteError);
    const remote = rebuilt as RemoteError;
    expect(remote.code).toBe('ERR_REMOTE');
    expect(remote.remoteName).toBe('TypeError');
    expect(remote.remoteMessage).toBe('boom');
    expect(remote.remoteStack).toBe(thrown.stack);
    expect(remote.remoteCode).toBe('E_BOOM');
  });

  it.each([
    ['a numeric code', 7, 7],
    ['an object code', { nested: true }, undefined],
    ['no code', undefined, undefined],
  ])('keeps remoteCode for %s only when it is a string or number', (_label, own, expected) => {
    const thrown = Object.assign(new Error('x'), own === undefined ? {} : { code: own });
    const remote = errorFromWire(errorToWire(thrown)) as RemoteError;
    expect(remote.remoteCode).toBe(expected);
  });

  it.each([
    ['a string', 'oops'],
    ['a number', 42],
    ['undefined', undefined],
    ['null', null],
    ['a plain object', { a: 1 }],
    [
      'a cyclic object',
      (() => {
        const o: Record<string, unknown> = {};
        o.o = o;
        return o;
      })(),
    ],
    ['a bigint', 10n],
    ['a symbol', Symbol('s')],
  ])('serialises a thrown non-Error (%s) without throwing', (_label, thrown) => {
    const wire = errorToWire(thrown);
    expect(wire.code).toBe('ERR_REMOTE');
    expect(wire.name).toBe('Error');
    expect(typeof wire.message).toBe('string');
    expect(wire.message.length).toBeGreaterThan(0);
    expect(errorFromWire(wire)).toBeInstanceOf(RemoteError);
  });

  it('passes a thrown string through as the message', () => {
    expect(errorToWire('oops').message).toBe('oops');
  });

  it('uses the fallback code for a foreign error: a failing factory becomes a FactoryError with the daemon stack', () => {
    const thrown = Object.assign(new SyntaxError('Unexpected token'), { code: 'ERR_SYNTAX' });
    const wire = errorToWire(thrown, 'ERR_FACTORY');
    expect(wire.code).toBe('ERR_FACTORY');
    const rebuilt = errorFromWire(decodeValue(encodeValue(wire)) as WireError);
    expect(rebuilt).toBeInstanceOf(FactoryError);
    const factory = rebuilt as FactoryError;
    expect(factory.code).toBe('ERR_FACTORY');
    expect(factory.message).toBe('Unexpected token');
    expect(factory.remoteName).toBe('SyntaxError');
    expect(factory.remoteStack).toBe(thrown.stack);
    expect(factory.remoteCode).toBe('ERR_SYNTAX');
    expect(factory.stack).toContain(thrown.stack!);
  });

  it('keeps the code of a library error regardless of the fallback', () => {
    expect(errorToWire(new MailboxFullError('full'), 'ERR_REMOTE').code).toBe('ERR_MAILBOX_FULL');
  });

  it.each([['ERR_NOT_A_CODE'], [''], ['toString'], ['__proto__'], ['constructor']])('rebuilds an unknown wire code (%o) as a plain LoopbackSingletonError', (code) => {
    const rebuilt = errorFromWire({ code, name: 'WeirdError', message: 'from the future' });
    expect(rebuilt.constructor).toBe(LoopbackSingletonError);
    expect(rebuilt.code).toBe('ERR_LOOPBACK_SINGLETON');
    expect(rebuilt.message).toBe('from the future');
  });
});

describe('remoteErrorToWire', () => {
  it('sends what a hosted method threw as ERR_REMOTE, keeping its name, message, stack and code', () => {
    const thrown = Object.assign(new RangeError('too far'), { code: 'E_FAR' });
    const rebuilt = errorFromWire(decodeValue(encodeValue(remoteErrorToWire(thrown))) as WireError);
    expect(rebuilt).toBeInstanceOf(RemoteError);
    const remote = rebuilt as RemoteError;
    expect(remote.code).toBe('ERR_REMOTE');
    expect(remote.remoteName).toBe('RangeError');
    expect(remote.remoteMessage).toBe('too far');
    expect(remote.remoteStack).toBe(thrown.stack);
    expect(remote.remoteCode).toBe('E_FAR');
  });

  it.each(TREE)('sends a thrown %o of this package as ERR_REMOTE, its own code kept aside', (Class, _Parent, name, code) => {
    const thrown = make(Class);
    const remote = errorFromWire(remoteErrorToWire(thrown));
    expect(remote).toBeInstanceOf(RemoteError);
    expect(remote.code).toBe('ERR_REMOTE');
    expect((remote as RemoteError).remoteName).toBe(name);
    expect((remote as RemoteError).remoteCode).toBe(code);
  });

  it.each([
    ['a string', 'oops'],
    ['undefined', undefined],
    [
      'a cyclic object',
      (() => {
        const o: Record<string, unknown> = {};
        o.o = o;
        return o;
      })(),
    ],
    ['a symbol', Symbol('s')],
  ])('sends a thrown non-Error (%s) as ERR_REMOTE without throwing', (_label, thrown) => {
    const wire = remoteErrorToWire(thrown);
    expect(wire.code).toBe('ERR_REMOTE');
    expect(typeof wire.message).toBe('string');
    expect(errorFromWire(wire)).toBeInstanceOf(RemoteError);
  });
});
