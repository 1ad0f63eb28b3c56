/**
 * The shapes the inspector's store holds and its server sends the page: rows, actors, daemon
 * figures, deltas and snapshots. Types only (erased from the JavaScript), so the page loads
 * nothing more for them; ./model.ts re-exports them with the store.
 */
import type { TransitionRecord } from '../inspect-record.js';

/** A statechart the inspector draws (a file stem in diagrams/). */
export type ChartName = 'client' | 'supervisor' | 'daemon' | 'mailbox' | 'client-handshake' | 'daemon-handshake';

/** A transition record as `src/inspect.ts` writes it (NDJSON) and a daemon sends it. */
export type InspectRecord = TransitionRecord;

/** What makes a row stand out in the timeline. */
export type RowMark = 'boot' | 'lock-won' | 'failed';

/** One timeline row. */
export interface Row extends InspectRecord {
  /** Arrival order in the store, unique: what the page keys rows by. */
  readonly seq: number;
  readonly chart: ChartName;
  readonly mark?: RowMark;
}

/** One live actor and where it stands. */
export interface ActorView {
  /** `<pid>:<actor>`: unique across processes. */
  readonly key: string;
  readonly pid: number;
  readonly chart: ChartName;
  readonly name: string;
  readonly actor: string;
  readonly state: unknown;
  /** The dotted paths of every state it is in (`serving`, `serving.idle`). */
  readonly paths: readonly string[];
  /** When it entered that state (epoch ms). */
  readonly since: number;
  /** What the failed state it is in says, if it failed. */
  readonly error?: InspectRecord['error'];
}

/** A per-call record a daemon sent. */
export interface CallView {
  readonly ts: number;
  readonly method: string;
  readonly id: number;
  readonly outcome: string;
  readonly queuedMs: number;
  readonly runMs: number;
  readonly code?: string;
}

/** A daemon's figures, as far as the inspector learned them. */
export interface SingletonView {
  readonly name: string;
  /** `alive` (an observer connection is open), `gone` (it was, and went away), or what a probe found. */
  readonly status: 'alive' | 'gone' | 'absent' | 'stale' | 'unresponsive' | 'draining';
  readonly pid?: number;
  readonly state?: unknown;
  readonly active?: number;
  readonly queued?: number;
  readonly running?: number;
  readonly runningMethod?: string;
  readonly runningForMs?: number;
  readonly waitingCalls?: readonly { readonly method: string; readonly waitingMs?: number }[];
  readonly callsServed?: number;
  readonly callsPerSecond?: number;
  readonly rssBytes?: number;
  readonly startedAt?: number;
  readonly startReason?: string;
  readonly transport?: string;
  readonly address?: string;
  readonly packageVersion?: string;
  /** Why it is not alive, or what it failed with. */
  readonly detail?: string;
  /** The last lines of its daemon.log, once it failed or went away. */
  readonly logTail?: readonly string[];
  /** Its latest per-call records, newest last. */
  readonly calls?: readonly CallView[];
  /** Calls answered that the daemon did not send a record of (it sends a sample). */
  readonly callsOmitted?: number;
  /** When the inspector last heard of it (epoch ms). */
  readonly seenAt: number;
}

/** What changed since the last delta: the page applies it to its own store. */
export interface Delta {
  readonly rows: readonly Row[];
  readonly actors: readonly ActorView[];
  /** Keys of actors that stopped or were forgotten. */
  readonly gone: readonly string[];
  readonly singletons: readonly SingletonView[];
}

/** Everything, for a page that (re)connects. */
export interface Snapshot extends Delta {
  /** The pids known to be daemons: what tells the two handshake charts apart. */
  readonly daemonPids: readonly number[];
}
