/**
 * Errors as they cross the wire: `{ code, name, message, stack }` (see {@link WireError}),
 * rebuilt on the other side as the class their code names with {@link errorFromWire}.
 */
import { ERROR_CLASSES, FactoryError, LoopbackSingletonError, RemoteError } from './classes.js';
import { type ErrorCode, ErrorCodes, isErrorCode } from './codes.js';

/** An error as it travels in an `error` message or a failed-boot report. */
export interface WireError {
  /** A code of {@link ErrorCodes}. */
  readonly code: string;
  readonly name: string;
  readonly message: string;
  readonly stack?: string | undefined;
  /** For `ERR_REMOTE`: the thrown value's own code property, if it had one. */
  readonly remoteCode?: string | number | undefined;
}

/**
 * Serialises any thrown value for the wire: under its own code if `keepsOwnCode` picks it (by
 * default, an error of this package), else under `fallbackCode`, its own code kept as `remoteCode`.
 */
export function errorToWire(
  error: unknown,
  fallbackCode: ErrorCode = 'ERR_REMOTE',
  keepsOwnCode = (error: Error): error is Error & { readonly code: string } => error instanceof LoopbackSingletonError,
): WireError {
  if (error instanceof Error) {
    if (keepsOwnCode(error)) return { code: error.code, name: error.name, message: error.message, stack: error.stack };
    return { code: fallbackCode, name: error.name, message: error.message, stack: error.stack, remoteCode: remoteCodeOf((error as { code?: unknown }).code) };
  }
  return nonErrorToWire(error, fallbackCode);
}

/**
 * Serialises what a hosted method threw: always `ERR_REMOTE`, whatever the thrown value is
 * (even one of this package's own errors: the call did run), its own code kept aside.
 */
export function remoteErrorToWire(error: unknown): WireError {
  if (error instanceof Error) {
    // Hosted code may throw anything shaped like an Error: read each field defensively
    // (a getter may throw, a name may be a symbol) so the reply is always sendable.
    const own = readField(error, 'code');
    const stack = readField(error, 'stack');
    return {
      code: 'ERR_REMOTE',
      name: asText(readField(error, 'name'), 'Error'),
      message: asText(readField(error, 'message'), ''),
      stack: typeof stack === 'string' ? stack : undefined,
      remoteCode: remoteCodeOf(own),
    };
  }
  return nonErrorToWire(error, 'ERR_REMOTE');
}

/** A thrown value's own `code` property, kept when a {@link WireError} can carry it. */
function remoteCodeOf(own: unknown): string | number | undefined {
  return typeof own === 'string' || typeof own === 'number' ? own : undefined;
}

/** A thrown value that is not an Error (a string, a plain object...), under `code`. */
function nonErrorToWire(value: unknown, code: ErrorCode): WireError {
  return { code, name: 'Error', message: describeThrown(value), stack: undefined };
}

function describeThrown(value: unknown): string {
  if (typeof value === 'string') return value;
  try {
    return `non-Error value thrown: ${JSON.stringify(value) ?? String(value)}`;
  } catch {
    return `non-Error value thrown: ${String(value)}`;
  }
}

function readField(target: object, key: string): unknown {
  try {
    return (target as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/** `value` as text for a message: itself if a string, `fallback` if nullish or if `String()` throws. */
export function asText(value: unknown, fallback: string): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return fallback;
  try {
    return String(value);
  } catch {
    return fallback;
  }
}

/** Rebuilds an error received from the wire as the class its code names. */
export function errorFromWire(wire: WireError): LoopbackSingletonError {
  const code: ErrorCode = isErrorCode(wire.code) ? wire.code : 'ERR_LOOPBACK_SINGLETON';
  if (code === 'ERR_REMOTE') {
    return new RemoteError({
      remoteName: wire.name,
      remoteMessage: wire.message,
      remoteStack: wire.stack,
      remoteCode: wire.remoteCode,
    });
  }
  if (code === 'ERR_FACTORY') {
    return new FactoryError(wire.message, {
      code,
      remoteName: wire.name,
      remoteStack: wire.stack,
      remoteCode: wire.remoteCode,
    });
  }
  const Class = ERROR_CLASSES[ErrorCodes[code]];
  return new Class(wire.message, { code });
}
