/**
 * What the inspector knows, shared by its server (Node) and its page (the browser, which loads
 * this very file): the live actors and the state each is in, the timeline of transitions across
 * processes, and each singleton's daemon figures. Pure data and functions: no Node or DOM API,
 * so the page and the server apply the same records the same way.
 */

import type { ActorView, CallView, ChartName, Delta, InspectRecord, Row, RowMark, SingletonView, Snapshot } from './views.js';

export type { ActorView, CallView, ChartName, Delta, InspectRecord, Row, RowMark, SingletonView, Snapshot } from './views.js';

/** Every chart, in the order the page shows them. */
export const CHARTS: readonly ChartName[] = ['daemon', 'mailbox', 'daemon-handshake', 'client', 'supervisor', 'client-handshake'];

/** How many timeline rows a store keeps: the oldest go first. */
export const TIMELINE_ROWS = 20_000;
/** How many actors a store tracks: past it, the ones that changed least recently are forgotten. */
export const MAX_ACTORS = 2_000;
/** Per-call records kept per singleton. */
export const CALLS_KEPT = 50;

/** The dotted paths of every state a state value says an actor is in. */
export function statePaths(value: unknown, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix + value];
  if (typeof value !== 'object' || value === null) return [];
  const paths: string[] = [];
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    paths.push(prefix + key, ...statePaths(child, `${prefix}${key}.`));
  }
  return paths;
}

/** A state value as one line: `serving.idle`, `{a.x, b.y}` for parallel regions. */
export function formatStateValue(value: unknown): string {
  const leaves = statePaths(value).filter((path, _, all) => !all.some((other) => other.startsWith(`${path}.`)));
  if (leaves.length === 0) return value === undefined ? '' : String(value);
  return leaves.length === 1 ? leaves[0]! : `{${leaves.join(', ')}}`;
}

/** Which chart a record's actor runs: a handshake is the daemon's when its pid is a daemon's. */
export function chartOf(record: Pick<InspectRecord, 'area' | 'pid'>, daemonPids: ReadonlySet<number>): ChartName {
  if (record.area !== 'handshake') return record.area;
  return daemonPids.has(record.pid) ? 'daemon-handshake' : 'client-handshake';
}

/** What makes `record` stand out: a daemon's boot, a spawn lock won, a failure. */
export function markOf(record: InspectRecord): RowMark | undefined {
  if (record.area === 'daemon' && record.type === 'spawn') return 'boot';
  if (record.type !== 'transition') return undefined;
  const to = statePaths(record.to);
  if (to.includes('failed')) return 'failed';
  if (record.area === 'client' && to.includes('locked') && !statePaths(record.from).includes('locked')) return 'lock-won';
  return undefined;
}

/** True when `value` has the shape of an {@link InspectRecord} (what a file line or a daemon sent). */
export function isInspectRecord(value: unknown): value is InspectRecord {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return (
    typeof record.ts === 'number' &&
    typeof record.pid === 'number' &&
    typeof record.name === 'string' &&
    typeof record.actor === 'string' &&
    (record.type === 'spawn' || record.type === 'transition' || record.type === 'stop') &&
    ['client', 'supervisor', 'daemon', 'mailbox', 'handshake'].includes(record.area as string)
  );
}

/**
 * The inspector's state: bounded (at most {@link TIMELINE_ROWS} rows and {@link MAX_ACTORS}
 * actors), whatever arrives. The server fills one from its sources; the page one from the
 * snapshot and deltas the server sends.
 */
export class InspectorStore {
  readonly #rows: Row[] = [];
  /** Index of the oldest row in `#rows` (a ring once full). */
  #head = 0;
  readonly #actors = new Map<string, ActorView>();
  readonly #singletons = new Map<string, SingletonView>();
  readonly #daemonPids = new Set<number>();
  /** Every record (and its actor) seen once, for records that arrive twice (a daemon's file and its history). */
  readonly #seen = new Set<string>();
  readonly #seenOrder: string[] = [];
  #seq = 0;
  /** False for the page's store: it applies deltas and makes none. */
  readonly #tracksChanges: boolean;
  #pending: { rows: Row[]; actors: Map<string, ActorView>; gone: Set<string>; singletons: Map<string, SingletonView> } = emptyPending();

  constructor(tracksChanges = true) {
    this.#tracksChanges = tracksChanges;
  }

  /** The pids known to be daemons. */
  get daemonPids(): ReadonlySet<number> {
    return this.#daemonPids;
  }

  /** How many rows the timeline holds. */
  get size(): number {
    return this.#rows.length;
  }

  /** The timeline, oldest first. */
  rows(): Row[] {
    return [...this.#rows.slice(this.#head), ...this.#rows.slice(0, this.#head)];
  }

  actors(): ActorView[] {
    return [...this.#actors.values()];
  }

  singletons(): SingletonView[] {
    return [...this.#singletons.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  singleton(name: string): SingletonView | undefined {
    return this.#singletons.get(name);
  }

  /** Marks `pid` as a daemon's. */
  addDaemonPid(pid: number): void {
    this.#daemonPids.add(pid);
  }

  /**
   * Applies one record: a row in the timeline and its actor's new state. A record already
   * applied (same pid, actor, time, type and target) is ignored. Returns the row, if new.
   */
  apply(record: InspectRecord): Row | undefined {
    const identity = `${record.pid}:${record.actor}:${record.ts}:${record.type}:${JSON.stringify(record.to ?? null)}`;
    if (this.#seen.has(identity)) return undefined;
    this.#remember(identity);
    if (record.area === 'daemon') this.#daemonPids.add(record.pid);
    const chart = chartOf(record, this.#daemonPids);
    const mark = markOf(record);
    const row: Row = { ...record, seq: ++this.#seq, chart, ...(mark === undefined ? {} : { mark }) };
    this.#push(row);
    const key = `${record.pid}:${record.actor}`;
    if (record.type === 'stop') {
      // A daemon's own charts stay where they ended (stopped, failed) until the next daemon of
      // their singleton takes their place; a client's or a handshake's actor is gone.
      if (record.area !== 'daemon' && record.area !== 'mailbox') this.forgetActor(key);
    } else if (record.type === 'transition') {
      const current = this.#actors.get(key);
      // A late record (a history that overlaps what already arrived) does not move an actor back.
      if (current === undefined || current.since <= record.ts) {
        this.putActor({
          key,
          pid: record.pid,
          chart,
          name: record.name,
          actor: record.actor,
          state: record.to,
          paths: statePaths(record.to),
          since: record.ts,
          ...(record.error === undefined ? {} : { error: record.error }),
        });
      }
    }
    return row;
  }

  /** Sets an actor as it is (a daemon's history says where its live actors stand). */
  putActor(actor: ActorView): void {
    this.#actors.delete(actor.key);
    this.#actors.set(actor.key, actor);
    if (this.#tracksChanges) {
      this.#pending.actors.set(actor.key, actor);
      this.#pending.gone.delete(actor.key);
    }
    if (this.#actors.size > MAX_ACTORS) this.forgetActor(this.#actors.keys().next().value!);
  }

  /** Forgets one actor (it stopped, or its process is gone). */
  forgetActor(key: string): void {
    if (!this.#actors.delete(key) || !this.#tracksChanges) return;
    this.#pending.actors.delete(key);
    this.#pending.gone.add(key);
  }

  /** Forgets every actor of process `pid` (it exited). */
  forgetProcess(pid: number): void {
    for (const actor of [...this.#actors.values()]) if (actor.pid === pid) this.forgetActor(actor.key);
  }

  /** Sets what is known of singleton `name`, merged over what was. */
  updateSingleton(name: string, patch: Partial<SingletonView>, now: number): SingletonView {
    const next: SingletonView = { ...this.#singletons.get(name), ...patch, name, seenAt: now } as SingletonView;
    this.#singletons.set(name, next);
    if (this.#tracksChanges) this.#pending.singletons.set(name, next);
    if (next.pid !== undefined && next.status === 'alive') this.#daemonPids.add(next.pid);
    return next;
  }

  /** Adds a daemon's per-call records to its singleton (the latest {@link CALLS_KEPT} kept). */
  addCalls(name: string, calls: readonly CallView[], omitted: number, now: number): void {
    const previous = this.#singletons.get(name);
    const kept = [...(previous?.calls ?? []), ...calls].slice(-CALLS_KEPT);
    this.updateSingleton(name, { calls: kept, callsOmitted: (previous?.callsOmitted ?? 0) + omitted }, now);
  }

  /** Applies what a server sent (the page's side). */
  applyDelta(delta: Delta): void {
    for (const row of delta.rows) {
      this.#seq = Math.max(this.#seq, row.seq);
      this.#push(row);
      if (row.area === 'daemon') this.#daemonPids.add(row.pid);
    }
    for (const key of delta.gone) this.forgetActor(key);
    for (const actor of delta.actors) this.putActor(actor);
    for (const singleton of delta.singletons) {
      this.#singletons.set(singleton.name, singleton);
      if (singleton.pid !== undefined) this.#daemonPids.add(singleton.pid);
    }
  }

  /** Everything, for a page that connects now. */
  snapshot(): Snapshot {
    return { rows: this.rows(), actors: this.actors(), gone: [], singletons: this.singletons(), daemonPids: [...this.#daemonPids] };
  }

  /** What changed since the last call, or undefined when nothing did. */
  takeDelta(): Delta | undefined {
    const pending = this.#pending;
    if (pending.rows.length === 0 && pending.actors.size === 0 && pending.gone.size === 0 && pending.singletons.size === 0) return undefined;
    this.#pending = emptyPending();
    return { rows: pending.rows, actors: [...pending.actors.values()], gone: [...pending.gone], singletons: [...pending.singletons.values()] };
  }

  #push(row: Row): void {
    if (this.#rows.length < TIMELINE_ROWS) this.#rows.push(row);
    else {
      this.#rows[this.#head] = row;
      this.#head = (this.#head + 1) % TIMELINE_ROWS;
    }
    if (!this.#tracksChanges) return;
    this.#pending.rows.push(row);
    // A delta never holds more than the timeline does.
    if (this.#pending.rows.length > TIMELINE_ROWS) this.#pending.rows.shift();
  }

  #remember(identity: string): void {
    this.#seen.add(identity);
    this.#seenOrder.push(identity);
    if (this.#seenOrder.length > TIMELINE_ROWS) this.#seen.delete(this.#seenOrder.shift()!);
  }
}

function emptyPending() {
  return { rows: [] as Row[], actors: new Map<string, ActorView>(), gone: new Set<string>(), singletons: new Map<string, SingletonView>() };
}
