/**
 * The effects of the daemon's drain: marking its record draining on entering `draining`, then
 * one per sub-state of `draining` in the daemon statechart (machines/daemon.machine.ts), which
 * owns their order and every timer between them: the force grace, the dispose timeout, the
 * close grace and the drain deadline.
 */
import type { Server } from 'node:net';
import { readMetadataFile, writeMetadata } from '../runtime/metadata.js';
import type { DaemonMetadata } from '../types.js';
import type { Channel } from './channel.js';
import type { Mailbox } from './mailbox.js';

/**
 * The entry of `draining`: the daemon's record (`metadata`, at `path`) is rewritten marked
 * draining, unless metadata.json names another daemon by now. The record stays while the
 * process lives: a client that finds it waits for this process to exit instead of starting a
 * second daemon beside it; it is removed on `stopped`, as the process exits. Returns the
 * record as marked (undefined when the daemon stopped before it ever published one).
 */
export function markRecordDraining(path: string, instanceId: string, metadata: DaemonMetadata | undefined, log: (line: string) => void): DaemonMetadata | undefined {
  if (metadata === undefined) return undefined;
  const marked: DaemonMetadata = { ...metadata, draining: true, drainingSince: Date.now() };
  try {
    // Over whatever is there only if it is still ours (a successor's record is left alone).
    const { read } = readMetadataFile(path);
    if (read.status === 'valid' && read.metadata.instanceId !== instanceId) return marked;
    writeMetadata(path, marked);
  } catch (error) {
    log(`could not mark metadata draining: ${(error as Error).message}`);
  }
  return marked;
}

/** What the drain works on: the daemon's, read when each step runs. */
export interface DrainHost {
  /** The listening server, if the daemon got as far as binding one. */
  server(): Server | undefined;
  /** The mailbox, if the daemon got as far as creating the object. */
  mailbox(): Mailbox | undefined;
  /** The authenticated connections' channels. */
  channels(): Iterable<Channel>;
  /** Servers replaced by a re-bind: each resolves once the connections it accepted have ended. */
  readonly retired: readonly Promise<void>[];
  /** Destroys the connections still in their handshake. */
  dropHandshakes(reason: string): void;
}

/** One daemon's drain steps. */
export class DrainSteps {
  readonly #host: DrainHost;
  /** Resolves once the server has closed: every connection it accepted has ended. */
  #serverClosed: Promise<void> = Promise.resolve();
  /** The mailbox as the drain began: an object still loading then is never called (nor disposed). */
  #mailbox: Mailbox | undefined;
  /** Resolves once the mailbox is closed: every call it accepted was answered or refused. */
  #mailboxClosed: Promise<void> = Promise.resolve();

  constructor(host: DrainHost) {
    this.#host = host;
  }

  /** `closingIntake`: no new connection, none half-way through its handshake, no new call. */
  closeIntake(force: boolean): void {
    const server = this.#host.server();
    const mailbox = this.#host.mailbox();
    this.#mailbox = mailbox;
    this.#serverClosed = new Promise<void>((resolve) => {
      if (server?.listening) server.close(() => resolve());
      else resolve();
    });
    this.#host.dropHandshakes('daemon is draining');
    if (mailbox) this.#mailboxClosed = mailbox.close(force);
  }

  /** The escalation (`answering` -> `forcing`): the waiting calls are refused, never run. */
  force(): void {
    void this.#mailbox?.close(true);
  }

  /** `answering`: resolves once every accepted call has been answered. */
  answerCalls(): Promise<void> {
    return this.#mailboxClosed;
  }

  /** `forcing`: resolves once the running call (if any) has finished. */
  finishRunning(): Promise<void> {
    return this.#mailbox?.idle() ?? Promise.resolve();
  }

  /** `disposing`: the hosted object's dispose hook; resolves with what happened, for the log. */
  dispose(): Promise<string | undefined> {
    return this.#mailbox?.disposeObject() ?? Promise.resolve(undefined);
  }

  /**
   * `closingConnections`: half-closes every connection; resolves once the server (and any it
   * replaced) has closed, which server.close() reports once each connection has ended, i.e.
   * flushed its replies.
   */
  async closeConnections(): Promise<void> {
    for (const channel of this.#host.channels()) channel.close();
    await Promise.all([this.#serverClosed, ...this.#host.retired]);
  }

  /** The log line for a drain its deadline cut: the calls still running or waiting are abandoned. */
  abandoned(drainTimeoutMs: number): string {
    const mailbox = this.#host.mailbox();
    const running = mailbox?.runningMethod;
    const queued = mailbox?.queued ?? 0;
    const what = [running === undefined ? '' : `1 running call (${running})`, queued > 0 ? `${queued} queued call(s)` : ''].filter(Boolean).join(' and ');
    const outcome = what ? `with ${what} abandoned; their callers get ERR_DAEMON_LOST` : 'before the drain finished';
    return `drain deadline passed (drainTimeoutMs ${drainTimeoutMs} ms): exiting ${outcome}`;
  }
}
