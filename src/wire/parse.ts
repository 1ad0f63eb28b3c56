/**
 * Checking what a peer sent: a decoded frame is one of the messages of ./messages.ts, with
 * every field of the right type, or it is refused with a `ProtocolError`. Also what a request
 * id and a handshake nonce are.
 */
import { ProtocolError } from '../errors.js';
import { isTopic, MAX_TOPIC_LENGTH } from '../events-link.js';
import {
  NONCE_BYTES,
  type AuthMessage,
  type CallMessage,
  type CancelMessage,
  type ChallengeMessage,
  type ClientMessage,
  type CreditMessage,
  type DaemonMessage,
  type EndMessage,
  type ErrorMessage,
  type EventMessage,
  type HelloMessage,
  type ItemMessage,
  type PingMessage,
  type ReplyMessage,
  type StopMessage,
  type WelcomeMessage,
} from './messages.js';

/** A message's `t` for an error message; never throws, whatever a peer sent. */
function describeType(t: unknown): string {
  return typeof t === 'string' ? JSON.stringify(t.slice(0, 64)) : `(a ${t === null ? 'null' : typeof t})`;
}

function fail(what: string): never {
  throw new ProtocolError(`Invalid message: ${what}`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True when `value` is a valid request id. */
export function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isBytes(value: unknown, length?: number): value is Uint8Array {
  return value instanceof Uint8Array && (length === undefined || value.length === length);
}

/** True when `value` is a valid handshake nonce. */
export function isNonce(value: unknown): value is Uint8Array {
  return isBytes(value, NONCE_BYTES);
}

/**
 * Checks that a decoded value is a message a client may send; anything else throws.
 * @throws {ProtocolError} `ERR_UNKNOWN_MESSAGE` for an unknown `t`, `ERR_PROTOCOL` otherwise.
 */
export function parseClientMessage(value: unknown): ClientMessage {
  if (!isRecord(value)) fail('expected a map with a string field `t`');
  switch (value.t) {
    case 'call':
      if (!isId(value.id)) fail('`call.id` must be a non-negative integer');
      if (typeof value.m !== 'string') fail('`call.m` must be a string');
      if (!Array.isArray(value.a)) fail('`call.a` must be an array');
      if (value.dl !== undefined && typeof value.dl !== 'number') fail('`call.dl` must be a number (epoch ms)');
      return value as unknown as CallMessage;
    case 'cancel':
      if (!isId(value.id)) fail('`cancel.id` must be a non-negative integer');
      return value as unknown as CancelMessage;
    case 'ping':
      if (!isId(value.id)) fail('`ping.id` must be a non-negative integer');
      return value as unknown as PingMessage;
    case 'hello':
      // Only the version is checked here: a hello of another protocol version may have
      // another shape, and must still get ERR_PROTOCOL_VERSION. The receiver checks the rest.
      if (typeof value.v !== 'number') fail('`hello.v` must be a number');
      return value as unknown as HelloMessage;
    case 'auth':
      if (!isBytes(value.proof)) fail('`auth.proof` must be bytes');
      return value as unknown as AuthMessage;
    case 'shutdown':
      if (!isId(value.id)) fail('`shutdown.id` must be a non-negative integer');
      return { t: 'shutdown', id: value.id, force: value.force === true };
    case 'subscribe':
      if (!isId(value.id)) fail('`subscribe.id` must be a non-negative integer');
      if (!isTopic(value.topic)) fail(`\`subscribe.topic\` must be a string of 1 to ${MAX_TOPIC_LENGTH} characters`);
      return { t: 'subscribe', id: value.id, topic: value.topic };
    case 'unsubscribe':
      if (!isId(value.id)) fail('`unsubscribe.id` must be a non-negative integer');
      if (!isId(value.sub)) fail('`unsubscribe.sub` must be a non-negative integer');
      return { t: 'unsubscribe', id: value.id, sub: value.sub };
    case 'credit':
      if (!isId(value.id)) fail('`credit.id` must be a non-negative integer');
      if (!isId(value.n) || value.n === 0) fail('`credit.n` must be a positive integer');
      return value as unknown as CreditMessage;
    case 'stop':
      if (!isId(value.id)) fail('`stop.id` must be a non-negative integer');
      return value as unknown as StopMessage;
    default:
      throw new ProtocolError(`Unknown message type ${describeType(value.t)}`, {
        code: 'ERR_UNKNOWN_MESSAGE',
      });
  }
}

/**
 * Checks that a decoded value is a message a daemon may send.
 * @throws {ProtocolError} as {@link parseClientMessage}.
 */
export function parseDaemonMessage(value: unknown): DaemonMessage {
  if (!isRecord(value)) fail('expected a map with a string field `t`');
  switch (value.t) {
    case 'reply':
      if (!isId(value.id)) fail('`reply.id` must be a non-negative integer');
      return value as unknown as ReplyMessage;
    case 'error': {
      if (value.id !== null && !isId(value.id)) fail('`error.id` must be null or a non-negative integer');
      const e = value.e;
      if (!isRecord(e) || typeof e.code !== 'string' || typeof e.message !== 'string') {
        fail('`error.e` must be a map with string `code` and `message`');
      }
      return value as unknown as ErrorMessage;
    }
    case 'challenge':
      if (typeof value.v !== 'number') fail('`challenge.v` must be a number');
      if (!isBytes(value.nonce, NONCE_BYTES)) fail(`\`challenge.nonce\` must be ${NONCE_BYTES} bytes`);
      if (!isBytes(value.proof)) fail('`challenge.proof` must be bytes');
      return value as unknown as ChallengeMessage;
    case 'welcome':
      if (!isRecord(value.info)) fail('`welcome.info` must be a map');
      return value as unknown as WelcomeMessage;
    case 'event':
      if (!isTopic(value.topic)) fail(`\`event.topic\` must be a string of 1 to ${MAX_TOPIC_LENGTH} characters`);
      if (value.dropped !== undefined && !isId(value.dropped)) fail('`event.dropped` must be a non-negative integer');
      return value as unknown as EventMessage;
    case 'item':
      if (!isId(value.id)) fail('`item.id` must be a non-negative integer');
      return value as unknown as ItemMessage;
    case 'end':
      if (!isId(value.id)) fail('`end.id` must be a non-negative integer');
      return value as unknown as EndMessage;
    default:
      throw new ProtocolError(`Unknown message type ${describeType(value.t)}`, {
        code: 'ERR_UNKNOWN_MESSAGE',
      });
  }
}
