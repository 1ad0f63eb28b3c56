/**
 * Subscribing to the hosted object's events through a proxy: `remoteEvents<E>(proxy)` gives a
 * typed `subscribe(topic)`, `E` being the map of topics to payload types that the object's
 * publisher (`loopback-singleton/events`) uses.
 */
import { isTopic, MAX_TOPIC_LENGTH } from '../events-link.js';
import { connectionOf } from './proxy.js';
import { checkSubscribeOptions, Subscription, type SubscribeOptions } from './subscription.js';

/** The events of one hosted object, typed by its map of topics to payload types. */
export interface RemoteEvents<E extends object> {
  /**
   * Subscribes to `topic`; resolves once the daemon has the subscription, so every event
   * published from then on reaches it (unless dropped for lagging, and counted). Restarts a
   * lost daemon first, as a call does.
   * @throws {TypeError} for a topic that is not a string of 1 to 256 characters, or bad options.
   * @throws {DaemonConnectionError} as a call would (`ERR_DAEMON_LOST`, `ERR_PROXY_CLOSED`).
   */
  subscribe<K extends keyof E & string>(topic: K, options?: SubscribeOptions): Promise<Subscription<E[K]>>;
}

/**
 * The events `remote`'s hosted object publishes, typed by `E` (topic -> payload). A
 * subscription shares the proxy's connection, keeps the process alive until it ends, and ends
 * with `ERR_DAEMON_LOST` if the daemon is lost (it never moves to a restarted daemon).
 * @example
 * import { localSingleton, remoteEvents } from 'loopback-singleton';
 * import type { Counter, CounterEvents } from './counter.js';
 *
 * await using counter = await localSingleton<Counter>('counter', './counter.js:Counter').proxy();
 * await using changes = await remoteEvents<CounterEvents>(counter).subscribe('changed');
 * for await (const value of changes) console.log('now', value, 'lost so far', changes.dropped);
 */
export function remoteEvents<E extends object = Record<string, unknown>>(remote: object): RemoteEvents<E> {
  const supervised = connectionOf(remote);
  return {
    async subscribe(topic, options) {
      if (!isTopic(topic)) {
        throw new TypeError(`Expected \`topic\` to be a string of 1 to ${MAX_TOPIC_LENGTH} characters, got \`${String(topic)}\` (${typeof topic})`);
      }
      const bufferSize = checkSubscribeOptions(options);
      const signal = options?.signal;
      signal?.throwIfAborted();
      const subscription = new Subscription<E[typeof topic]>(topic, bufferSize, signal);
      let held: Awaited<ReturnType<typeof supervised.subscribe>>;
      try {
        held = await supervised.subscribe(topic, subscription);
      } catch (error) {
        subscription.end(undefined); // lets go of the signal
        throw error;
      }
      const { id, connection } = held;
      subscription.attach(() => connection.unsubscribe(id));
      // Aborted while the daemon was taking it: attach() ended it there; say why.
      signal?.throwIfAborted();
      return subscription;
    },
  };
}
