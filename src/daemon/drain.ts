/**
 * The effects of the daemon's drain, one per sub-state of `draining` in the daemon statechart
 * (machines/daemon.machine.ts), which owns their order and every timer between them: the
 * force grace, the dispose timeout, the close grace and the drain deadline.
 */
import type { Server } from 'node:net';
import type { Channel } from './channel.js';
import type { Mailbox } from './mailbox.js';

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
    return `drain deadline passed (drainTimeoutMs ${drainTimeoutMs} ms): exiting ${what ? `with ${what} abandoned; their callers get ERR_DAEMON_LOST` : 'before the drain finished'}`;
  }
}
