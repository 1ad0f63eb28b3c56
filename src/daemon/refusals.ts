/**
 * What the mailbox (./mailbox.ts) answers a call it does not run: refused at its door, or
 * answered unrun (withdrawn, past its deadline, dropped by a forced close). Each a fresh
 * `WireError` with its stable code; docs/PROTOCOL.md §5 lists them.
 */
import type { WireError } from '../errors.js';

export const refusals = {
  draining: (): WireError => ({
    code: 'ERR_DAEMON_DRAINING',
    name: 'DaemonConnectionError',
    message: 'The daemon is shutting down and accepts no new calls; the call was not executed',
  }),
  streamEnded: (): WireError => ({ code: 'ERR_DAEMON_DRAINING', name: 'DaemonConnectionError', message: 'The daemon is shutting down; the stream was ended' }),
  notAllowed: (name: string): WireError => ({
    code: 'ERR_METHOD_NOT_ALLOWED',
    name: 'MethodNotAllowedError',
    message: `"${name}" is not a public method of the hosted object (private, unknown, or not a function)`,
  }),
  full: (maxQueuedCalls: number): WireError => ({
    code: 'ERR_MAILBOX_FULL',
    name: 'MailboxFullError',
    message: `The mailbox already holds ${maxQueuedCalls} waiting calls (maxQueuedCalls); retry later or raise maxQueuedCalls`,
  }),
  cancelled: (): WireError => ({
    code: 'ERR_CALL_CANCELLED',
    name: 'LoopbackSingletonError',
    message: 'The caller gave up on this call before it ran; it was not executed',
  }),
  expired: (): WireError => ({
    code: 'ERR_CALL_TIMEOUT',
    name: 'LoopbackSingletonError',
    message: "The call's deadline had passed when its turn came; it was not executed",
  }),
  forced: (): WireError => ({
    code: 'ERR_SHUTDOWN_FORCED',
    name: 'LoopbackSingletonError',
    message: 'The daemon was shut down with force before this call ran; it was not executed',
  }),
};
