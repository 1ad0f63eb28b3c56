/**
 * Live transitions of every statechart actor (client, supervisor, daemon, mailbox, handshake): xstate's
 * inspection events, reduced to actor spawns, state changes with the event that caused them,
 * and actor stops. They go to
 * - an NDJSON file, when env `LOOPBACK_SINGLETON_INSPECT=<file>` is set in the process (a
 *   daemon inherits it from the process that starts it), one JSON object per line;
 * - `node:diagnostics_channel` channels `loopback-singleton:<area>:spawn|transition|stop`,
 *   built only when someone subscribes.
 * Only lifecycle events reach an inspector: calls never pass through a statechart.
 */
import { appendFileSync } from 'node:fs';
import type { InspectionEvent } from 'xstate';
import { hasSubscribers, publish } from './diagnostics.js';

/** Which statechart an actor runs. */
export type InspectArea = 'client' | 'supervisor' | 'daemon' | 'mailbox' | 'handshake';

/** One record of the stream (and of the channels' messages). */
export interface TransitionRecord {
  /** Epoch ms. */
  readonly ts: number;
  readonly pid: number;
  readonly area: InspectArea;
  /** The singleton's name. */
  readonly name: string;
  /** The actor's session id, unique per actor in this process. */
  readonly actor: string;
  readonly type: 'spawn' | 'transition' | 'stop';
  /** For transitions: the state value before and after, and the event that caused it. */
  readonly from?: unknown;
  readonly to?: unknown;
  readonly event?: string;
}

const file = process.env.LOOPBACK_SINGLETON_INSPECT || undefined;

const RECORD_TYPES = ['spawn', 'transition', 'stop'] as const;

/**
 * An xstate `inspect` callback for one actor of `area`. `onTransition` is called for each
 * state change too (the daemon writes them to daemon.log).
 *
 * Undefined when nothing would receive the records (no `onTransition`, no file, nobody
 * subscribed to the area's channels): xstate builds an inspection event for every event and
 * microstep of an inspected actor, a cost a client pays on each connect. So an actor created
 * while nobody listens stays uninspected; subscribe before creating proxies.
 */
export function inspector(area: InspectArea, name: string, onTransition?: (record: TransitionRecord) => void): ((event: InspectionEvent) => void) | undefined {
  if (onTransition === undefined && file === undefined && !RECORD_TYPES.some((type) => hasSubscribers(area, type))) return undefined;
  const previous = new Map<string, string>();
  return (event) => {
    // Only the statechart actor itself, not the promise actors it invokes.
    const actor = event.actorRef.sessionId;
    if (actor !== event.rootId) return;
    if (event.type === '@xstate.actor') {
      emit({ ts: Date.now(), pid: process.pid, area, name, actor, type: 'spawn' });
      return;
    }
    if (event.type !== '@xstate.snapshot') return;
    const snapshot = event.snapshot as { value?: unknown; status?: string };
    const to = JSON.stringify(snapshot.value);
    const from = previous.get(actor);
    if (to !== from) {
      previous.set(actor, to);
      const record: TransitionRecord = {
        ts: Date.now(),
        pid: process.pid,
        area,
        name,
        actor,
        type: 'transition',
        from: from === undefined ? undefined : JSON.parse(from),
        to: snapshot.value,
        event: event.event.type,
      };
      emit(record);
      onTransition?.(record);
    }
    if (snapshot.status === 'done' || snapshot.status === 'stopped' || snapshot.status === 'error') {
      previous.delete(actor);
      emit({ ts: Date.now(), pid: process.pid, area, name, actor, type: 'stop' });
    }
  };
}

function emit(record: TransitionRecord): void {
  publish(record.area, record.type, () => record);
  if (file === undefined) return;
  try {
    appendFileSync(file, `${JSON.stringify(record)}\n`);
  } catch {
    // An unwritable inspection file must not break the library.
  }
}
