/**
 * Live transitions of every statechart actor (client, supervisor, daemon, mailbox, handshake): xstate's
 * inspection events, reduced to actor spawns, state changes with the event that caused them,
 * and actor stops. They go to
 * - an NDJSON file, when env `LOOPBACK_SINGLETON_INSPECT=<file>` is set in the process (a
 *   daemon inherits it from the process that starts it), one JSON object per line;
 * - `node:diagnostics_channel` channels `loopback-singleton:<area>:spawn|transition|stop`,
 *   built only when someone subscribes;
 * - the record sinks registered in this process ({@link addRecordSink}): a daemon's, which
 *   keeps its recent history and sends it to the observers that subscribe to its inspection
 *   topic (`loopback-singleton inspect`).
 * Only lifecycle events reach an inspector: calls never pass through a statechart.
 */
import { appendFileSync } from 'node:fs';
import type { InspectionEvent } from 'xstate';
import { hasSubscribers, publish } from './diagnostics.js';
import type { InspectArea, TransitionRecord } from './inspect-record.js';

export type { InspectArea, TransitionRecord } from './inspect-record.js';

/** A receiver of the records of this process's actors. */
export interface RecordSink {
  /** Whether an actor of `area` created now should be inspected for this sink. */
  wants(area: InspectArea): boolean;
  record(record: TransitionRecord): void;
}

const sinks = new Set<RecordSink>();

/** Sends every record made in this process from now on to `sink` too; returns the way to stop. */
export function addRecordSink(sink: RecordSink): () => void {
  sinks.add(sink);
  return () => sinks.delete(sink);
}

function sinkWants(area: InspectArea): boolean {
  for (const sink of sinks) if (sink.wants(area)) return true;
  return false;
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
  if (onTransition === undefined && file === undefined && !sinkWants(area) && !RECORD_TYPES.some((type) => hasSubscribers(area, type))) return undefined;
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
    const snapshot = event.snapshot as { value?: unknown; status?: string; context?: { error?: unknown } };
    const to = JSON.stringify(snapshot.value);
    const from = previous.get(actor);
    if (to !== from) {
      previous.set(actor, to);
      const error = to.includes('"failed"') ? describeError(snapshot.context?.error) : undefined;
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
        ...(error === undefined ? {} : { error }),
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

/** What a failed state's context says went wrong, short: its code and message. */
function describeError(error: unknown): TransitionRecord['error'] {
  if (typeof error !== 'object' || error === null) return error === undefined ? undefined : { message: String(error).slice(0, 500) };
  const { code, message } = error as { code?: unknown; message?: unknown };
  return { ...(typeof code === 'string' ? { code } : {}), message: String(message ?? error).slice(0, 500) };
}

function emit(record: TransitionRecord): void {
  publish(record.area, record.type, () => record);
  for (const sink of sinks) {
    try {
      sink.record(record);
    } catch {
      // A sink's fault must not break the actor it watches.
    }
  }
  if (file === undefined) return;
  try {
    appendFileSync(file, `${JSON.stringify(record)}\n`);
  } catch {
    // An unwritable inspection file must not break the library.
  }
}
