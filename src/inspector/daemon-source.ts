/**
 * The inspector's view of one singleton's daemon: an observer connection (never counted, never
 * keeping the daemon alive) subscribed to the daemon's inspection topic, and a ping twice a
 * second for its figures. When the daemon goes away the source says so, shows the tail of its
 * log, and looks again until a daemon answers: a restarted daemon shows up with its new pid and
 * the history of its boot.
 */
import { openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import type { Connection } from '../client/connection.js';
import { DaemonUnavailable, openDaemon } from '../cli/probe.js';
import type { InspectMessage } from '../daemon/inspection.js';
import { INSPECT_TOPIC } from '../events-link.js';
import { runtimePaths } from '../runtime/paths.js';
import type { DaemonInfo } from '../types.js';
import { statePaths, type InspectorStore, type SingletonView } from './model.js';

/** How often a watched daemon is pinged for its figures. */
export const PING_INTERVAL_MS = 500;
/** A request (the subscription, a ping) unanswered this long marks the daemon unresponsive (until it answers). */
export const STALL_MS = 2000;
/** How often a singleton without a daemon that answers is looked at again. */
export const RETRY_INTERVAL_MS = 250;
/** How much of the end of daemon.log is shown for a daemon that failed or went away. */
export const LOG_TAIL_BYTES = 8 * 1024;
const LOG_TAIL_LINES = 30;

/** Where a source reports that the store changed. */
export type Changed = () => void;

/** Follows the daemon of one singleton until stopped. */
export class DaemonSource {
  readonly #root: string;
  readonly #name: string;
  readonly #store: InspectorStore;
  readonly #changed: Changed;
  #stopped = false;
  #connection: Connection | undefined;
  #wake: (() => void) | undefined;

  constructor(root: string, name: string, store: InspectorStore, changed: Changed) {
    this.#root = root;
    this.#name = name;
    this.#store = store;
    this.#changed = changed;
  }

  /** Runs until {@link stop}. Never rejects. */
  async run(): Promise<void> {
    let lastSeen: string | undefined;
    while (!this.#stopped) {
      const paths = runtimePaths(this.#root, this.#name);
      try {
        const { connection, metadata } = await openDaemon(paths);
        lastSeen = undefined;
        await this.#watch(connection, metadata.pid);
      } catch (error) {
        const status = error instanceof DaemonUnavailable ? error.status : 'unresponsive';
        const detail = (error as Error).message;
        // A daemon that failed to boot never answers: what it logged is the news.
        const tail = logTail(paths.dir);
        const seen = `${status} ${detail} ${tail.logTail?.at(-1) ?? ''}`;
        if (seen !== lastSeen) {
          lastSeen = seen;
          const previous = this.#store.singleton(this.#name);
          // A daemon that was seen and went away keeps its last figures, marked gone.
          const gone = previous?.status === 'alive' || previous?.status === 'gone';
          this.#store.updateSingleton(this.#name, { status: gone && status === 'absent' ? 'gone' : status, detail, ...tail }, Date.now());
          this.#changed();
        }
      }
      await this.#sleep(RETRY_INTERVAL_MS);
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#connection?.close();
    this.#wake?.();
  }

  /** Watches one daemon over `connection` until it closes. */
  async #watch(connection: Connection, pid: number): Promise<void> {
    this.#connection = connection;
    const closed = new Promise<void>((resolve) => connection.onClose(() => resolve()));
    const store = this.#store;
    // A daemon that went away stays drawn where it last stood until another takes its place.
    const before = store.singleton(this.#name)?.pid;
    if (before !== undefined && before !== pid) store.forgetProcess(before);
    store.addDaemonPid(pid);
    this.#show(connection.welcome, undefined);
    let previous = { served: connection.welcome.callsServed, at: performance.now() };
    try {
      // Records this observer lost (it did not keep up) could leave an actor drawn in a state
      // it left: subscribing again brings where every live actor stands now.
      let resyncing = false;
      const resync = () => {
        if (resyncing) return;
        resyncing = true;
        void (async () => {
          try {
            await connection.unsubscribe(subscription);
            subscription = await connection.subscribe(INSPECT_TOPIC, sink);
          } catch {
            // The connection is going: the loop below finds out.
          } finally {
            resyncing = false;
          }
        })();
      };
      const sink = {
        event: (data: unknown, dropped: number) => {
          this.#receive(data as InspectMessage);
          if (dropped > 0) resync();
        },
        missed: resync,
        end: () => {},
      };
      // A daemon whose event loop is blocked (or stopped) answers late: say so meanwhile.
      const unlessStalled = <T>(request: Promise<T>): Promise<T> => {
        const stalled = setTimeout(() => {
          this.#store.updateSingleton(this.#name, { status: 'unresponsive', detail: `pid ${pid} has not answered for ${STALL_MS / 1000} s` }, Date.now());
          this.#changed();
        }, STALL_MS);
        return request.finally(() => clearTimeout(stalled));
      };
      let subscription = await unlessStalled(connection.subscribe(INSPECT_TOPIC, sink));
      while (!this.#stopped && connection.isOpen) {
        await Promise.race([this.#sleep(PING_INTERVAL_MS), closed]);
        if (this.#stopped || !connection.isOpen) break;
        const info = await unlessStalled(connection.ping());
        const at = performance.now();
        const rate = ((info.callsServed - previous.served) * 1000) / Math.max(1, at - previous.at);
        previous = { served: info.callsServed, at };
        this.#show(info, rate);
      }
    } catch {
      // The daemon went away mid-request: told below.
    } finally {
      connection.close();
      this.#connection = undefined;
    }
    if (this.#stopped) return;
    const paths = runtimePaths(this.#root, this.#name);
    // Its figures were of a live daemon: what is left is where its chart ended.
    const last = store.actors().find((actor) => actor.pid === pid && actor.chart === 'daemon');
    const ended: Partial<SingletonView> = {
      active: undefined,
      queued: undefined,
      running: undefined,
      runningMethod: undefined,
      runningForMs: undefined,
      waitingCalls: undefined,
    };
    const figures: Partial<SingletonView> = { ...ended, callsPerSecond: undefined, rssBytes: undefined, ...(last === undefined ? {} : { state: last.state }) };
    store.updateSingleton(this.#name, { status: 'gone', detail: `the daemon (pid ${pid}) went away`, ...figures, ...logTail(paths.dir) }, Date.now());
    this.#changed();
  }

  #show(info: DaemonInfo, callsPerSecond: number | undefined): void {
    const view: Partial<SingletonView> = {
      status: 'alive',
      pid: info.pid,
      state: info.state,
      active: info.active,
      queued: info.queued,
      running: info.running,
      runningMethod: info.runningMethod,
      runningForMs: info.runningForMs,
      waitingCalls: info.waitingCalls,
      callsServed: info.callsServed,
      callsPerSecond,
      rssBytes: info.rssBytes,
      startedAt: info.startedAt,
      startReason: info.startReason,
      transport: info.transport,
      address: info.address,
      packageVersion: info.packageVersion,
      detail: undefined,
      logTail: undefined,
    };
    this.#store.updateSingleton(this.#name, view, Date.now());
    this.#changed();
  }

  #receive(message: InspectMessage): void {
    const store = this.#store;
    const now = Date.now();
    switch (message.kind) {
      case 'history':
        store.addDaemonPid(message.pid);
        for (const record of message.records) store.apply(record);
        // Where its live actors stand now, whatever of their past the history still holds.
        for (const actor of message.actors) {
          const key = `${message.pid}:${actor.actor}`;
          const chart = actor.area === 'handshake' ? 'daemon-handshake' : actor.area;
          store.putActor({ key, pid: message.pid, chart, name: actor.name, actor: actor.actor, state: actor.state, paths: statePaths(actor.state), since: actor.since });
        }
        break;
      case 'record':
        store.apply(message.record);
        break;
      case 'calls':
        store.addCalls(this.#name, message.records, message.omitted, now);
        break;
    }
    this.#changed();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}

/** The last lines of `dir/daemon.log` as a view patch (nothing when there is no log). */
export function logTail(dir: string): Partial<SingletonView> {
  let fd: number;
  try {
    fd = openSync(join(dir, 'daemon.log'), 'r');
  } catch {
    return {};
  }
  try {
    const { size } = fstatSync(fd);
    const length = Math.min(size, LOG_TAIL_BYTES);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    const lines = buffer.toString('utf8').split('\n').filter(Boolean);
    // The first line may be cut: drop it unless the whole file fit.
    return { logTail: (length < size ? lines.slice(1) : lines).slice(-LOG_TAIL_LINES) };
  } catch {
    return {};
  } finally {
    closeSync(fd);
  }
}
