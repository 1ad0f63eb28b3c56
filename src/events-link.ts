/**
 * How the hosted object's publishers (./events.ts) reach the daemon's event hub
 * (./daemon/events.ts), and the one rule both ends and the wire share: what a topic is.
 * Imports nothing, so the object's side pulls in neither client nor daemon code.
 */

/**
 * Where a daemon registers its hub on `globalThis`. A registered symbol, not a module
 * variable: a hosted module that resolves `loopback-singleton/events` to another copy of
 * this package (its own node_modules) still reaches the daemon it runs in.
 */
export const EVENT_HUB = Symbol.for('loopback-singleton.events');

/** What a daemon registers under {@link EVENT_HUB}. */
export interface EventHubLink {
  /** Sends `data` to the subscribers of `topic`; never waits, never blocks on a slow one. */
  publish(topic: string, data: unknown): void;
  /** Whether any connection subscribes to `topic`. */
  hasSubscribers(topic: string): boolean;
}

/** The longest event topic, in UTF-16 code units. */
export const MAX_TOPIC_LENGTH = 256;

/** True when `value` is a valid event topic: a string of 1 to {@link MAX_TOPIC_LENGTH} code units. */
export function isTopic(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_TOPIC_LENGTH;
}

/**
 * The topic on which a daemon sends its own lifecycle to observers (`loopback-singleton
 * inspect`): its statecharts' transitions, its recent history on subscribing, and batches of
 * per-call records. Topics under `loopback-singleton:` are the runtime's: an object cannot
 * publish on them.
 */
export const INSPECT_TOPIC = 'loopback-singleton:inspect';

/** True for a topic the runtime keeps for itself (see {@link INSPECT_TOPIC}). */
export function isReservedTopic(topic: string): boolean {
  return topic.startsWith('loopback-singleton:');
}

/** The hub of the daemon this process is, if it is one. */
export function eventHub(): EventHubLink | undefined {
  return (globalThis as { [EVENT_HUB]?: EventHubLink })[EVENT_HUB];
}

/** Makes `hub` the one the publishers of this process reach (a daemon does, before it creates the object). */
export function registerEventHub(hub: EventHubLink | undefined): void {
  (globalThis as { [EVENT_HUB]?: EventHubLink })[EVENT_HUB] = hub;
}
