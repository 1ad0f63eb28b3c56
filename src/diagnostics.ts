/**
 * Supervision and lifecycle events on `node:diagnostics_channel`, for APM tools and
 * debugging. Channel names are `loopback-singleton:<area>:<event>` (public, documented in the
 * README and docs/DESIGN.md, "See the statecharts"); a message is built only when someone subscribes.
 */
import { channel, type Channel } from 'node:diagnostics_channel';

/** The client-side supervision events. */
export type ClientEvent = 'daemon-lost' | 'restart' | 'restart-limit' | 'restart-failed' | 'reconnected' | 'replaced';

const channels = new Map<string, Channel>();

/** The channel `loopback-singleton:<area>:<event>`, made once: hot paths keep it and test `hasSubscribers`. */
export function channelFor(area: string, event: string): Channel {
  const name = `loopback-singleton:${area}:${event}`;
  let found = channels.get(name);
  if (found === undefined) {
    found = channel(name);
    channels.set(name, found);
  }
  return found;
}

/** Whether anyone listens on `loopback-singleton:<area>:<event>`. */
export function hasSubscribers(area: string, event: string): boolean {
  return channelFor(area, event).hasSubscribers;
}

/** Publishes `message()` on `loopback-singleton:<area>:<event>` if anyone listens. */
export function publish(area: string, event: string, message: () => object): void {
  const target = channelFor(area, event);
  if (target.hasSubscribers) target.publish(message());
}
