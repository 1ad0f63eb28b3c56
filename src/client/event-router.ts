/**
 * One connection's event subscriptions, client side: the events the daemon writes (one frame
 * per topic and connection, ../daemon/events.ts) go to each local subscription of its topic.
 */
import type { EventMessage } from '../wire/messages.js';

/** What receives one subscription's events (./subscription.ts). */
export interface EventSink {
  /** An event; `dropped`: events on its topic lost just before it. */
  event(data: unknown, dropped: number): void;
  /** Events on its topic it lost, told without an event (when another subscription started). */
  missed(count: number): void;
  /** Its connection is gone: lost (`error`), or closed by this client (undefined). */
  end(error: Error | undefined): void;
}

/** The subscriptions of one connection, by id and by topic. */
export class EventRouter {
  readonly #byTopic = new Map<string, Set<EventSink>>();
  readonly #byId = new Map<number, { readonly topic: string; readonly sink: EventSink }>();

  /** How many subscriptions are live. */
  get size(): number {
    return this.#byId.size;
  }

  /**
   * Adds subscription `id` as its `subscribe` reply arrives. `untold`: events the topic's
   * existing subscriptions lost before it (the reply tells them; the new one was not there).
   */
  add(id: number, topic: string, sink: EventSink, untold: number): void {
    let sinks = this.#byTopic.get(topic);
    if (sinks === undefined) {
      sinks = new Set();
      this.#byTopic.set(topic, sinks);
    }
    if (untold > 0) for (const existing of sinks) existing.missed(untold);
    sinks.add(sink);
    this.#byId.set(id, { topic, sink });
  }

  /** Stops delivering to subscription `id`; false when it was not live. */
  remove(id: number): boolean {
    const entry = this.#byId.get(id);
    if (entry === undefined) return false;
    this.#byId.delete(id);
    const sinks = this.#byTopic.get(entry.topic)!;
    sinks.delete(entry.sink);
    if (sinks.size === 0) this.#byTopic.delete(entry.topic);
    return true;
  }

  /** One event from the daemon, to every subscription of its topic (none: a late one, ignored). */
  deliver(message: EventMessage): void {
    const sinks = this.#byTopic.get(message.topic);
    if (sinks === undefined) return;
    const dropped = message.dropped ?? 0;
    for (const sink of sinks) sink.event(message.d, dropped);
  }

  /** Ends every subscription (the connection is gone); returns how many there were. */
  endAll(error: Error | undefined): number {
    const sinks = [...this.#byId.values()].map((entry) => entry.sink);
    this.#byId.clear();
    this.#byTopic.clear();
    for (const sink of sinks) sink.end(error);
    return sinks.length;
  }
}
