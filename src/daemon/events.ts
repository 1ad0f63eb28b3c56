/**
 * The daemon's event hub: what the hosted object publishes (../events.ts) goes to the
 * connections that subscribe, never through the mailbox. Each publish is encoded once and
 * written to every subscribed connection whose socket keeps up; one that does not loses the
 * event, counted, and learns the count with the next event it gets on that topic. So a slow
 * subscriber never makes the daemon buffer without bound, and never makes the object wait.
 */
import type { EventHubLink } from '../events-link.js';
import { ProtocolError } from '../errors.js';
import { encodeFrame } from '../wire/codec.js';
import { prepareValue } from '../wire/values.js';

/**
 * How many bytes a connection may have unsent (held, corked, or queued in its socket because
 * its peer does not read) for the daemon to still write it an event. Past it, events to that
 * connection are dropped until it catches up: the daemon holds at most this much plus one
 * event per subscriber. 1 MiB is thousands of small events: only a subscriber that stopped
 * reading, or a burst in one synchronous method larger than this, reaches it.
 */
export const EVENT_BACKLOG_BYTES = 1024 * 1024;

/** The side of a connection the hub writes to. */
export interface EventSubscriber {
  readonly channel: {
    readonly isClosed: boolean;
    readonly writer: { write(frame: Buffer): void; readonly pendingBytes: number };
  };
}

/** One connection's subscriptions to one topic. */
interface Feed {
  /** The ids of its `subscribe` requests to this topic. */
  readonly subscriptions: Set<number>;
  /** Events on this topic it did not get since the last one it got. */
  dropped: number;
}

/** The subscriptions of every connection, by topic. */
export class EventHub implements EventHubLink {
  readonly #maxFrameBytes: number;
  readonly #backlogBytes: number;
  /** topic -> subscribed connection -> its feed; a topic without subscribers has no entry. */
  readonly #topics = new Map<string, Map<EventSubscriber, Feed>>();
  /** connection -> subscription id -> topic: what to end on `unsubscribe` or a close. */
  readonly #subscriptions = new Map<EventSubscriber, Map<number, string>>();
  /** Events not written to a lagging connection since boot (one per connection and event). */
  dropped = 0;

  constructor(maxFrameBytes: number, backlogBytes = EVENT_BACKLOG_BYTES) {
    this.#maxFrameBytes = maxFrameBytes;
    this.#backlogBytes = backlogBytes;
  }

  /**
   * Subscribes `subscriber` to `topic` as subscription `id`. Returns the events its earlier
   * subscriptions to `topic` missed and were not told of yet (they are told with this reply,
   * so that the count never reaches a subscription that did not exist when they were dropped).
   */
  subscribe(subscriber: EventSubscriber, id: number, topic: string): number {
    let byId = this.#subscriptions.get(subscriber);
    if (byId === undefined) {
      byId = new Map();
      this.#subscriptions.set(subscriber, byId);
    }
    // An id used again replaces its subscription (a Node client never reuses one).
    if (byId.has(id)) this.unsubscribe(subscriber, id);
    byId.set(id, topic);
    let feeds = this.#topics.get(topic);
    if (feeds === undefined) {
      feeds = new Map();
      this.#topics.set(topic, feeds);
    }
    const feed = feeds.get(subscriber);
    if (feed === undefined) {
      feeds.set(subscriber, { subscriptions: new Set([id]), dropped: 0 });
      return 0;
    }
    feed.subscriptions.add(id);
    const untold = feed.dropped;
    feed.dropped = 0;
    return untold;
  }

  /** Ends subscription `id` of `subscriber`; nothing if there is none. */
  unsubscribe(subscriber: EventSubscriber, id: number): void {
    const byId = this.#subscriptions.get(subscriber);
    const topic = byId?.get(id);
    if (topic === undefined) return;
    byId!.delete(id);
    if (byId!.size === 0) this.#subscriptions.delete(subscriber);
    const feeds = this.#topics.get(topic)!;
    const feed = feeds.get(subscriber)!;
    feed.subscriptions.delete(id);
    if (feed.subscriptions.size > 0) return;
    feeds.delete(subscriber);
    if (feeds.size === 0) this.#topics.delete(topic);
  }

  /** Ends every subscription of `subscriber` (its connection closed). */
  remove(subscriber: EventSubscriber): void {
    const byId = this.#subscriptions.get(subscriber);
    if (byId === undefined) return;
    for (const id of [...byId.keys()]) this.unsubscribe(subscriber, id);
  }

  hasSubscribers(topic: string): boolean {
    return this.#topics.has(topic);
  }

  /**
   * Writes `data` on `topic` to each subscribed connection, in publish order with its replies;
   * a connection with more than the backlog unsent loses it (counted). Synchronous.
   * @throws {ProtocolError} when someone subscribes and `data` cannot be encoded or is too large.
   */
  publish(topic: string, data: unknown): void {
    const feeds = this.#topics.get(topic);
    if (feeds === undefined) return;
    // Prepared and encoded once, whoever lags: a payload that cannot be sent fails the same way every time.
    let prepared: unknown;
    try {
      prepared = prepareValue(data, 'data');
    } catch (error) {
      throw this.#refusal(topic, error);
    }
    const frame = this.#encode(topic, prepared, undefined);
    for (const [{ channel }, feed] of feeds) {
      if (channel.isClosed) continue;
      if (channel.writer.pendingBytes > this.#backlogBytes) {
        feed.dropped++;
        this.dropped++;
        continue;
      }
      if (feed.dropped === 0) {
        channel.writer.write(frame);
      } else {
        // Rare (after a lag): this connection's own frame, carrying its count (or, should the
        // count push it past the limit by a byte or two, the shared one: the count waits).
        let counted: Buffer | undefined;
        try {
          counted = this.#encode(topic, prepared, feed.dropped);
          feed.dropped = 0;
        } catch {}
        channel.writer.write(counted ?? frame);
      }
    }
  }

  #encode(topic: string, data: unknown, dropped: number | undefined): Buffer {
    try {
      return encodeFrame(dropped === undefined ? { t: 'event', topic, d: data } : { t: 'event', topic, d: data, dropped }, this.#maxFrameBytes);
    } catch (error) {
      throw this.#refusal(topic, error);
    }
  }

  /** A payload that cannot be sent, as the publishing object sees it: the topic named, the code kept. */
  #refusal(topic: string, error: unknown): unknown {
    if (!(error instanceof ProtocolError)) return error;
    return new ProtocolError(`Cannot publish on ${JSON.stringify(topic)}: ${error.message}`, { code: error.code, cause: error.cause ?? error });
  }
}
