/**
 * What a daemon tells the observers that subscribe to its inspection topic
 * (`INSPECT_TOPIC`, used by `loopback-singleton inspect`): its statecharts' transitions as they
 * happen, its recent history and the current state of its live actors when one subscribes, and
 * its per-call records in batches. All of it goes through the event hub, so an observer that
 * stops reading loses messages (counted) and never makes the daemon buffer without bound.
 *
 * Without a subscriber it keeps a short history of its own charts (their transitions are
 * rare: boot, connections, drain) and nothing else: a call costs nothing more.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { INSPECT_TOPIC } from '../events-link.js';
import { addRecordSink, type InspectArea, type RecordSink, type TransitionRecord } from '../inspect.js';
import type { CallRecord } from './call-records.js';
import type { DaemonMessage } from '../wire/messages.js';
import type { EventHub } from './events.js';

/** Records of this daemon's own actors kept for an observer that subscribes later. */
export const HISTORY_RECORDS = 200;
/** Call records sent per batch at most; the others are counted. */
export const CALLS_PER_BATCH = 50;
/** How often a batch of call records leaves, while someone watches. */
export const CALL_BATCH_MS = 200;

const CALL_CHANNEL = 'loopback-singleton:daemon:call';

/** A call record as an observer receives it: when it was answered, and by which daemon. */
export interface InspectedCall extends CallRecord {
  readonly ts: number;
}

/** What the daemon sends on {@link INSPECT_TOPIC}. */
export type InspectMessage =
  /** To the one that just subscribed: the recent records and the live actors' current states. */
  | { readonly kind: 'history'; readonly pid: number; readonly records: readonly TransitionRecord[]; readonly actors: readonly LiveActor[] }
  /** One transition (or an actor's spawn or stop), as it happens. */
  | { readonly kind: 'record'; readonly record: TransitionRecord }
  /** Calls answered since the last batch: at most {@link CALLS_PER_BATCH}, `omitted` the rest. */
  | { readonly kind: 'calls'; readonly pid: number; readonly records: readonly InspectedCall[]; readonly omitted: number };

/** One live actor of the daemon and the state it is in. */
export interface LiveActor {
  readonly actor: string;
  readonly area: InspectArea;
  readonly name: string;
  readonly state: unknown;
  /** When it entered that state (epoch ms). */
  readonly since: number;
}

/** The daemon's side of inspection. */
export class DaemonInspection implements RecordSink {
  readonly #hub: EventHub;
  readonly #history: TransitionRecord[] = [];
  readonly #actors = new Map<string, LiveActor>();
  readonly #removeSink: () => void;
  #calls: InspectedCall[] = [];
  #omitted = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #onCall = (message: unknown) => {
    if (this.#calls.length < CALLS_PER_BATCH) this.#calls.push({ ...(message as CallRecord), ts: Date.now() });
    else this.#omitted++;
  };

  constructor(hub: EventHub) {
    this.#hub = hub;
    this.#removeSink = addRecordSink(this);
  }

  /** Its own charts always; a handshake (one per connect) only while someone watches. */
  wants(area: InspectArea): boolean {
    return area !== 'handshake' || this.#watched();
  }

  record(record: TransitionRecord): void {
    this.#history.push(record);
    if (this.#history.length > HISTORY_RECORDS) this.#history.shift();
    if (record.type === 'stop') this.#actors.delete(record.actor);
    else if (record.type === 'transition') {
      this.#actors.set(record.actor, { actor: record.actor, area: record.area, name: record.name, state: record.to, since: record.ts });
    }
    if (this.#watched()) this.#send({ kind: 'record', record });
  }

  /**
   * `subscriber` just subscribed to {@link INSPECT_TOPIC}: it gets the history now, then the
   * records and call batches as they come.
   */
  subscribed(channel: { send(message: DaemonMessage): void }): void {
    const actors = [...this.#actors.values()];
    // A small `maxFrameBytes` may not hold the whole history: then the latest records that fit.
    for (const keep of [HISTORY_RECORDS, 20, 0]) {
      const records = keep === 0 ? [] : this.#history.slice(-keep);
      const message: InspectMessage = { kind: 'history', pid: process.pid, records, actors };
      try {
        channel.send({ t: 'event', topic: INSPECT_TOPIC, d: message });
        break;
      } catch {}
    }
    if (this.#timer !== undefined) return;
    subscribe(CALL_CHANNEL, this.#onCall);
    this.#timer = setInterval(() => this.#flushCalls(), CALL_BATCH_MS);
    this.#timer.unref();
  }

  /** The daemon is going: no more records, no timer. */
  close(): void {
    this.#removeSink();
    this.#stopCalls();
  }

  #watched(): boolean {
    return this.#hub.hasSubscribers(INSPECT_TOPIC);
  }

  #flushCalls(): void {
    if (!this.#watched()) {
      this.#stopCalls();
      return;
    }
    if (this.#calls.length === 0 && this.#omitted === 0) return;
    const message: InspectMessage = { kind: 'calls', pid: process.pid, records: this.#calls, omitted: this.#omitted };
    this.#calls = [];
    this.#omitted = 0;
    this.#send(message);
  }

  #stopCalls(): void {
    if (this.#timer === undefined) return;
    clearInterval(this.#timer);
    this.#timer = undefined;
    unsubscribe(CALL_CHANNEL, this.#onCall);
    this.#calls = [];
    this.#omitted = 0;
  }

  #send(message: InspectMessage): void {
    try {
      this.#hub.publish(INSPECT_TOPIC, message);
    } catch {
      // Too large for a small `maxFrameBytes`: an observer's loss, never the daemon's fault.
    }
  }
}
