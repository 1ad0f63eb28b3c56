/**
 * The mailbox's lifecycle and admission state: the hosted object's only door. Pure definition;
 * src/daemon/mailbox.ts provides the effects.
 *
 *   accepting -> draining -> closed      (graceful: every admitted call still runs)
 *   accepting | draining -> closed       (forced: waiting calls are rejected, not run)
 *
 * This chart is the only record of whether the door is open: the runtime admits a call only
 * while the chart's snapshot is `accepting` (it reads the snapshot, it keeps no copy), and
 * refuses it in `draining` and `closed`. Each call is not an event of the chart: admission runs
 * on every call, and a read keeps xstate off the hot path. For the same reason a full queue
 * (`maxQueuedCalls` waiting) is a count the runtime checks, not a state: a saturated mailbox
 * would cross that line twice per call. The member rule, {@link isAdmissibleMember}, is
 * defined here too. A p-queue (concurrency 1) carries the admitted calls.
 */
import { fromPromise, setup } from 'xstate';
import { isCallableName } from '../src/method-names.js';

/** Events the mailbox machine accepts. */
export type MailboxEvent = { readonly type: 'mailbox.close'; readonly force: boolean };

/**
 * The admission policy for a member name: a public method of `target`, i.e. a name a call
 * may name ({@link isCallableName}: not `_`-prefixed, not `constructor`, not an
 * `Object.prototype` member, not `then`) for a member, own or inherited, that is a plain data
 * property holding a function (getters are never invoked).
 * Returns the method, or undefined when the name is not admissible.
 */
export function isAdmissibleMember(target: object, name: unknown): ((...args: unknown[]) => unknown) | undefined {
  if (!isCallableName(name)) return undefined;
  for (let o: object | null = target; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    // hasOwn first: the descriptor (an allocation) only for the object that has the member.
    if (!Object.hasOwn(o, name)) continue;
    const value: unknown = Object.getOwnPropertyDescriptor(o, name)?.value;
    return typeof value === 'function' ? (value as (...args: unknown[]) => unknown) : undefined;
  }
  return undefined;
}

/** The mailbox statechart. */
export const mailboxMachine = setup({
  types: {
    events: {} as MailboxEvent,
  },
  actors: {
    /** Resolves once every admitted call has finished and been answered. */
    awaitIdle: fromPromise<void>(async () => {
      throw new Error('mailbox machine: actor "awaitIdle" was not provided');
    }),
  },
  actions: {
    /**
     * Tells the open streams that the door is closing (`force`: at once), while the mailbox
     * still admits their last turns: a graceful drain then runs their iterators' endings.
     */
    announceClosing: (_, _params: { force: boolean }) => {},
    /** Rejects every waiting call with ERR_SHUTDOWN_FORCED without running it. */
    rejectWaiting: () => {},
  },
  guards: {
    isForced: ({ event }) => event.force,
  },
}).createMachine({
  id: 'mailbox',
  initial: 'accepting',
  states: {
    accepting: {
      on: {
        'mailbox.close': [
          { guard: 'isForced', target: 'closed', actions: [{ type: 'announceClosing', params: { force: true } }, 'rejectWaiting'] },
          { target: 'draining', actions: { type: 'announceClosing', params: { force: false } } },
        ],
      },
    },
    draining: {
      invoke: { id: 'awaitIdle', src: 'awaitIdle', onDone: 'closed', onError: 'closed' },
      on: {
        'mailbox.close': { guard: 'isForced', target: 'closed', actions: 'rejectWaiting' },
      },
    },
    closed: { type: 'final' },
  },
});
