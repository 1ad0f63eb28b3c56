import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../src/errors.js';
import { MAX_TOPIC_LENGTH } from '../../src/events-link.js';
import { decodeValue, encodeValue } from '../../src/wire/codec.js';
import { parseClientMessage, parseDaemonMessage } from '../../src/wire/parse.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ProtocolError);
    return (error as ProtocolError).code;
  }
  throw new Error('expected the parser to throw');
}

describe('event messages', () => {
  it('parses subscribe and unsubscribe, keeping only their fields', () => {
    expect(parseClientMessage(decodeValue(encodeValue({ t: 'subscribe', id: 3, topic: 'changed', extra: 1 })))).toEqual({ t: 'subscribe', id: 3, topic: 'changed' });
    expect(parseClientMessage({ t: 'unsubscribe', id: 4, sub: 3 })).toEqual({ t: 'unsubscribe', id: 4, sub: 3 });
    expect(parseClientMessage({ t: 'subscribe', id: 1, topic: 'x'.repeat(MAX_TOPIC_LENGTH) })).toMatchObject({ t: 'subscribe' });
  });

  it.each([
    ['subscribe without an id', { t: 'subscribe', topic: 'a' }],
    ['subscribe with a negative id', { t: 'subscribe', id: -1, topic: 'a' }],
    ['subscribe with an empty topic', { t: 'subscribe', id: 1, topic: '' }],
    ['subscribe with a topic too long', { t: 'subscribe', id: 1, topic: 'x'.repeat(MAX_TOPIC_LENGTH + 1) }],
    ['subscribe with a topic that is not a string', { t: 'subscribe', id: 1, topic: 5 }],
    ['unsubscribe without a sub', { t: 'unsubscribe', id: 1 }],
    ['unsubscribe with a fractional sub', { t: 'unsubscribe', id: 1, sub: 1.5 }],
  ])('refuses %s with ERR_PROTOCOL', (_, message) => {
    expect(codeOf(() => parseClientMessage(message))).toBe('ERR_PROTOCOL');
  });

  it('parses an event, with or without its drop count', () => {
    expect(parseDaemonMessage({ t: 'event', topic: 'changed', d: { n: 1 } })).toEqual({ t: 'event', topic: 'changed', d: { n: 1 } });
    expect(parseDaemonMessage({ t: 'event', topic: 'changed', d: null, dropped: 7 })).toMatchObject({ dropped: 7 });
  });

  it.each([
    ['an event without a topic', { t: 'event', d: 1 }],
    ['an event with a negative drop count', { t: 'event', topic: 'a', d: 1, dropped: -1 }],
    ['an event with a drop count that is not a number', { t: 'event', topic: 'a', d: 1, dropped: '2' }],
  ])('refuses %s with ERR_PROTOCOL', (_, message) => {
    expect(codeOf(() => parseDaemonMessage(message))).toBe('ERR_PROTOCOL');
  });

  it('a client may not send an event, nor a daemon a subscribe', () => {
    expect(codeOf(() => parseClientMessage({ t: 'event', topic: 'a', d: 1 }))).toBe('ERR_UNKNOWN_MESSAGE');
    expect(codeOf(() => parseDaemonMessage({ t: 'subscribe', id: 1, topic: 'a' }))).toBe('ERR_UNKNOWN_MESSAGE');
  });
});
