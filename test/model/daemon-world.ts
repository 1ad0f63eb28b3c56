/**
 * One real daemon process for one generated path of the daemon or mailbox model, and what a
 * test needs to drive it and look at it: its pid, runtime files, daemon.log, the spawner's
 * boot report, connections (an observer that never counts as active, and a client that does),
 * a controllable call that holds the mailbox, a dispose hook it can hold, and the statechart transitions the daemon
 * itself reports (its inspection stream, LOOPBACK_SINGLETON_INSPECT).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Connection } from '../../dist/src/client/connection.js';
import { launchDaemon } from '../../dist/src/client/spawn.js';
import { readMetadata, type MetadataRead } from '../../dist/src/runtime/metadata.js';
import type { DaemonInfo, RuntimePaths } from '../../dist/src/types.js';
import { daemonConfig, FIXTURES, freshRuntime, isAlive, MAX_FRAME, waitForExit, type DaemonOverrides } from '../support/daemon.js';
import { sleep } from '../support/wait.js';

export const MODEL_URL = pathToFileURL(join(FIXTURES, 'model.mjs')).href;
export const SERVICES_URL = pathToFileURL(join(FIXTURES, 'services.mjs')).href;
export const IMPORT_FAILS_URL = pathToFileURL(join(FIXTURES, 'import-fails.mjs')).href;
export const HANGS_URL = pathToFileURL(join(FIXTURES, 'hangs.mjs')).href;

/** How long any "eventually" assertion may take before it fails. */
export const DEADLINE_MS = 8000;

/** Retries `check` until it stops throwing; rethrows its last error after `timeoutMs`. */
export async function eventually<T>(check: () => T | Promise<T>, timeoutMs = DEADLINE_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(20);
    }
  }
}

/** `promise`, or a rejection naming `what` if it has not settled within `timeoutMs`. */
export function within<T>(promise: Promise<T>, what: string, timeoutMs = DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A statechart transition as the daemon reports it. */
export interface TraceRecord {
  readonly to: unknown;
  readonly event: string;
}

/** How the spawner's `ready` ended. */
export type BootOutcome = { readonly ok: true } | { readonly ok: false; readonly error: Error & { code?: string } };

/** A call sent and how it ended (settled in the background). */
export interface SentCall {
  /** How the call ended; rejects if it has not within the deadline. */
  outcome(): Promise<{ ok: true; value: unknown } | { ok: false; code: string | undefined; message: string }>;
}

function track(what: string, promise: Promise<unknown>): SentCall {
  const settled = promise.then(
    (value) => ({ ok: true as const, value }),
    (error: Error & { code?: string }) => ({ ok: false as const, code: error.code, message: error.message }),
  );
  return { outcome: () => within(settled, what) };
}

/** The calls a test queues so that a drain has work: one held by the gate, two waiting behind it. */
export interface QueuedWork {
  readonly gate: SentCall;
  readonly waiting: ReadonlyArray<{ readonly call: SentCall; readonly proof: string }>;
}

let serial = 0;

/** One daemon process and its surroundings. */
export class DaemonWorld {
  readonly root: string;
  readonly paths: RuntimePaths;
  readonly token: Buffer;
  readonly inspectFile: string;
  /** Created by the test to let the gate call finish. */
  readonly release: string;
  /** Written by the `hang` factory once the hosted module is loaded. */
  readonly marker: string;
  pid = 0;
  #boot: Promise<BootOutcome> | undefined;
  observer: Connection | undefined;
  client: Connection | undefined;
  work: QueuedWork | undefined;
  readonly #connections: Connection[] = [];

  constructor() {
    const runtime = freshRuntime();
    this.root = runtime.root;
    this.paths = runtime.paths;
    this.token = runtime.token;
    const n = ++serial;
    this.inspectFile = join(this.root, `inspect-${n}.ndjson`);
    this.release = join(this.root, `release-${n}`);
    this.marker = join(this.root, `loaded-${n}`);
  }

  /** Spawns the daemon (not waiting for it to be ready), its transitions going to inspectFile. */
  launch(overrides: DaemonOverrides): void {
    const previous = process.env.LOOPBACK_SINGLETON_INSPECT;
    process.env.LOOPBACK_SINGLETON_INSPECT = this.inspectFile;
    try {
      const launch = launchDaemon(daemonConfig(this.paths, overrides));
      this.pid = launch.pid!;
      this.#boot = launch.ready.then(
        () => ({ ok: true as const }),
        (error: Error & { code?: string }) => ({ ok: false as const, error }),
      );
    } finally {
      if (previous === undefined) delete process.env.LOOPBACK_SINGLETON_INSPECT;
      else process.env.LOOPBACK_SINGLETON_INSPECT = previous;
    }
  }

  /** How the spawner's wait for `ready` ended (waits for it). */
  boot(): Promise<BootOutcome> {
    if (!this.#boot) throw new Error('the daemon was not launched');
    return within(this.#boot, "the spawner's boot report");
  }

  /** The transitions the daemon's `area` statechart reported so far, in order. */
  trace(area: 'daemon' | 'mailbox'): TraceRecord[] {
    if (!existsSync(this.inspectFile)) return [];
    return readFileSync(this.inspectFile, 'utf8')
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as { area: string; type: string; to: unknown; event: string; pid: number })
      .filter((record) => record.area === area && record.type === 'transition' && record.pid === this.pid)
      .map(({ to, event }) => ({ to, event }));
  }

  log(): string {
    try {
      return readFileSync(this.paths.log, 'utf8');
    } catch {
      return '';
    }
  }

  metadata(): MetadataRead {
    return readMetadata(this.paths.metadata);
  }

  alive(): boolean {
    return isAlive(this.pid);
  }

  async connect(observe: boolean): Promise<Connection> {
    const read = this.metadata();
    if (read.status !== 'valid') throw new Error(`no valid metadata to connect with (${read.status})`);
    const connection = await Connection.open(read.metadata, { token: this.token, maxFrameBytes: MAX_FRAME, timeoutMs: 5000, observe });
    this.#connections.push(connection);
    return connection;
  }

  /** The daemon's live info, over the observer connection. */
  ping(): Promise<DaemonInfo> {
    if (!this.observer) throw new Error('no observer connection');
    return within(this.observer.ping(), 'ping');
  }

  /**
   * Queues work on the client connection: a gate call that holds the mailbox until
   * `releaseGate()`, then two `touch` calls waiting behind it (each creates a file when it
   * runs). Resolves once the daemon shows one call running and two queued.
   */
  async queueWork(): Promise<QueuedWork> {
    const client = this.client;
    if (!client) throw new Error('no client connection to queue work on');
    const gate = track('the gate call', client.call('gate', [this.release, 'gate-done']));
    const waiting = [1, 2].map((i) => {
      const proof = `${this.release}.touched-${i}`;
      return { call: track(`waiting call ${i}`, client.call('touch', [proof])), proof };
    });
    this.work = { gate, waiting };
    await eventually(async () => {
      const info = await this.ping();
      if (info.running !== 1 || info.queued !== 2) throw new Error(`expected 1 running and 2 queued, got ${info.running} and ${info.queued}`);
    });
    return this.work;
  }

  releaseGate(): void {
    writeFileSync(this.release, 'go');
  }

  /** Lets a `GatedDispose` object's dispose hook finish (model.mjs). */
  releaseDispose(): void {
    writeFileSync(`${this.release}.dispose`, 'go');
  }

  /** Waits for the process to exit; returns daemon.log. */
  async exited(): Promise<string> {
    await waitForExit(this.pid, DEADLINE_MS);
    return this.log();
  }

  /** Ends everything this world started: connections, the gate, the process. */
  async dispose(): Promise<void> {
    for (const connection of this.#connections) connection.close();
    if (this.#boot) {
      writeFileSync(this.release, 'go');
      if (this.pid && isAlive(this.pid)) process.kill(this.pid, 'SIGKILL');
      if (this.pid) await waitForExit(this.pid);
    }
  }
}
