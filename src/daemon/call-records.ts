/**
 * Per-call records on `node:diagnostics_channel` `loopback-singleton:daemon:call`, in the
 * daemon process: one {@link CallRecord} per admitted call once it is answered. Built only
 * while someone subscribes: without a subscriber a call costs one `hasSubscribers` read.
 */
import { channelFor } from '../diagnostics.js';

/** How a call ended. */
export type CallOutcome = 'ok' | 'error' | 'cancelled' | 'expired';

/** What `loopback-singleton:daemon:call` publishes, once per admitted call. */
export interface CallRecord {
  /** The method's name. */
  readonly method: string;
  /** The request id, unique per connection. */
  readonly id: number;
  /**
   * `ok` (a result), `error` (it threw), `cancelled` (withdrawn before it ran: its caller gave
   * up), `expired` (its deadline had passed when its turn came; it never ran).
   */
  readonly outcome: CallOutcome;
  /** Milliseconds between admission and its start (or its withdrawal). */
  readonly queuedMs: number;
  /** Milliseconds it ran (0 for a call that never ran). */
  readonly runMs: number;
  /** The error code of an `error` outcome (`ERR_REMOTE`, `ERR_REPLY_TOO_LARGE`...). */
  readonly code?: string;
}

const callChannel = channelFor('daemon', 'call');

/** A timestamp for a call being admitted, only while someone listens. */
export function recordingSince(): number | undefined {
  return callChannel.hasSubscribers ? performance.now() : undefined;
}

/**
 * Publishes one call's record. `admittedAt` undefined (nobody listened at admission) skips it;
 * `startedAt` undefined means the call never ran.
 */
export function publishCall(method: string, id: number, outcome: CallOutcome, admittedAt: number | undefined, startedAt: number | undefined, code?: string): void {
  if (admittedAt === undefined || !callChannel.hasSubscribers) return;
  const now = performance.now();
  const record: CallRecord = {
    method,
    id,
    outcome,
    queuedMs: (startedAt ?? now) - admittedAt,
    runMs: startedAt === undefined ? 0 : now - startedAt,
    ...(code === undefined ? {} : { code }),
  };
  callChannel.publish(record);
}
