/**
 * `loopback-singleton/events`: the hosted object's side of events. The object publishes to the
 * clients that subscribe (outbound only, never through the mailbox); a client subscribes with
 * `remoteEvents()` from `loopback-singleton`. This entry imports no client code.
 *
 * Outside a daemon (the object in a unit test) publishing does nothing and
 * `hasSubscribers()` is false, so the object runs unchanged.
 */
import type { Crossed, Crosses } from './client/crossing.js';
import { eventHub, isReservedTopic, isTopic, MAX_TOPIC_LENGTH } from './events-link.js';

/**
 * A payload as `publish` accepts it: `D` when all of it crosses the wire, else `D` with
 * `CannotCross` where it does not (a function, a symbol, a class instance with methods), so
 * the compiler refuses it at the publish. A type only: nothing of the client is loaded.
 */
export type Publishable<D> = Crosses<D> extends true ? D : Crossed<D>;

/**
 * A typed publisher: `E` maps each topic to its payload type, shared with the clients that
 * subscribe (`remoteEvents<E>(proxy)`).
 */
export interface Publisher<E extends object> {
  /**
   * Sends `data` to every connection subscribed to `topic`, in publish order, and returns at
   * once: it never waits for a subscriber. A subscriber that does not keep up loses events
   * (dropped and counted, see the README, "Streams and events"), never the object's time.
   * @throws {TypeError} when `topic` is not a string of 1 to 256 characters, or is one the
   *   runtime keeps (it starts with `loopback-singleton:`).
   * @throws {ProtocolError} `ERR_UNENCODABLE` or `ERR_FRAME_TOO_LARGE` when someone subscribes
   *   and `data` cannot be sent (a symbol, a cycle, larger than `maxFrameBytes`).
   */
  publish<K extends keyof E & string>(topic: K, data: Publishable<E[K]>): void;
  /** Whether any client subscribes to `topic` now: skip building a costly payload when none does. */
  hasSubscribers(topic: keyof E & string): boolean;
}

function checkTopic(topic: unknown): void {
  if (!isTopic(topic)) {
    const shown = typeof topic === 'string' ? `a string of ${topic.length} characters` : `\`${String(topic)}\` (${typeof topic})`;
    throw new TypeError(`Expected \`topic\` to be a string of 1 to ${MAX_TOPIC_LENGTH} characters, got ${shown}`);
  }
}

/**
 * The publisher of the daemon this code runs in (a no-op outside one). Make one at module
 * level; it finds the daemon on each publish, so it may be made before the daemon is ready.
 * @example
 * import { publisher } from 'loopback-singleton/events';
 * export type CounterEvents = { changed: number };
 * const events = publisher<CounterEvents>();
 * export class Counter {
 *   #value = 0;
 *   inc() {
 *     events.publish('changed', ++this.#value);
 *     return this.#value;
 *   }
 * }
 */
export function publisher<E extends object = Record<string, unknown>>(): Publisher<E> {
  return {
    publish(topic, data) {
      checkTopic(topic);
      if (isReservedTopic(topic)) {
        throw new TypeError(
          `The topic ${JSON.stringify(topic)} is reserved: topics starting with "loopback-singleton:" carry the runtime's own inspection; publish under another name`,
        );
      }
      eventHub()?.publish(topic, data);
    },
    hasSubscribers(topic) {
      checkTopic(topic);
      return eventHub()?.hasSubscribers(topic) ?? false;
    },
  };
}
