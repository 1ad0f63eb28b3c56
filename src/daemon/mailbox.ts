/**
 * The mailbox actor's runtime: the hosted object's only door, and the only code that calls it.
 * Three parts, each with one job:
 *
 * - The mailbox statechart (machines/mailbox.machine.ts) owns the lifecycle, and with it the
 *   admission state: calls are admitted only while its snapshot is `accepting`.
 * - A p-queue with concurrency 1 carries the calls: a call that has to wait is one task at the
 *   queue's tail, and a task ends only once its call has been answered (an async method's
 *   promise included), so calls run one at a time, in arrival order.
 * - `#waiting` holds the admitted calls whose task has not started: `maxQueuedCalls` bounds
 *   them, and a forced close answers them, without running them, as it empties the queue.
 *   A call withdrawn by its caller ({@link Mailbox.cancel}) leaves `#waiting` at once and is
 *   answered then; its task, when its turn comes, finds it gone and does nothing. A call whose
 *   deadline passed is answered when its turn comes, without running.
 *
 * One shortcut, and only one ({@link Mailbox.submit}): a call admitted while the queue is idle
 * is next anyway, so it runs at once, in `submit`; if it returns a promise, a task awaiting it
 * takes the queue's slot before `submit` returns. So the rule holds either way: a call starts
 * only when no call runs and none was admitted before it and is still waiting.
 */
import PQueue from 'p-queue';
import { createActor, fromPromise, toPromise, type Actor, type InspectionEvent } from 'xstate';
import { isAdmissibleMember, mailboxMachine } from '../../machines/mailbox.machine.js';
import { remoteErrorToWire, LoopbackSingletonError, type WireError } from '../errors.js';
import { provideCallSignal } from './call-context.js';
import { publishCall, recordingSince, type CallOutcome } from './call-records.js';
import { disposeHostedObject } from './factory.js';
import { refusals } from './refusals.js';

/** Where a call's outcome goes: its connection. Exactly one of the two is called per call. */
export interface CallSink {
  replyOk(id: number, result: unknown): void;
  replyError(id: number, error: WireError): void;
}

/** One admitted call. */
interface Call {
  readonly sink: CallSink;
  readonly id: number;
  /** The member's name, for the log of a drain that abandons it. */
  readonly name: string;
  readonly method: (...args: unknown[]) => unknown;
  readonly args: readonly unknown[];
  /** The caller's deadline (epoch ms), if it gave one. */
  readonly deadline: number | undefined;
  /** Made only when the method asks for its signal or its caller cancels while it runs. */
  controller?: AbortController;
  /** `performance.now()` at admission, only while someone listens for call records. */
  readonly admittedAt: number | undefined;
  startedAt?: number;
  /** A turn that is not a call (a stream's step, {@link Mailbox.enter}): not counted as served. */
  readonly turn?: true;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** The hosted object's door: admission, strictly sequential execution in arrival order, queue depth. */
export class Mailbox {
  readonly #object: object;
  readonly #maxQueuedCalls: number;
  readonly #queue = new PQueue({ concurrency: 1 });
  /** Admitted calls whose task has not started, oldest first: what a forced close answers. */
  readonly #waiting = new Set<Call>();
  /** The call executing now, if any: `running`, and the name a drain deadline logs. */
  #current: Call | undefined;
  #served = 0;
  /** Calls answered without running: withdrawn by their caller, or past their deadline. */
  #withdrawn = 0;
  /** The dispose hook runs at most once. */
  #disposed = false;
  /** Open streams, told when the door closes so their iterators end in the drain. */
  readonly #closingListeners = new Set<(force: boolean) => void>();
  readonly #actor: Actor<typeof mailboxMachine>;

  constructor(object: object, maxQueuedCalls: number, inspect?: (event: InspectionEvent) => void) {
    this.#object = object;
    this.#maxQueuedCalls = maxQueuedCalls;
    this.#actor = createActor(
      mailboxMachine.provide({
        actors: { awaitIdle: fromPromise(() => this.#queue.onIdle()) },
        actions: {
          announceClosing: (_, { force }) => {
            const listeners = [...this.#closingListeners];
            this.#closingListeners.clear();
            for (const listener of listeners) listener(force);
          },
          rejectWaiting: () => this.#rejectWaiting(),
        },
      }),
      inspect === undefined ? undefined : { inspect },
    );
    this.#actor.start();
    provideCallSignal(this);
  }

  /** Admitted calls waiting for their turn. */
  get queued(): number {
    return this.#waiting.size;
  }

  /** Calls executing now (0 or 1). */
  get running(): number {
    return this.#current === undefined ? 0 : 1;
  }

  /** The method executing now, if any. */
  get runningMethod(): string | undefined {
    return this.#current?.name;
  }

  /**
   * The call executing now, for the daemon's info: its method and, when its start was timed
   * (someone listened for call records when it was admitted), for how long it has run.
   */
  runningCall(): { runningMethod: string; runningForMs?: number } | undefined {
    const call = this.#current;
    if (call === undefined || call.turn !== undefined) return undefined;
    return call.startedAt === undefined ? { runningMethod: call.name } : { runningMethod: call.name, runningForMs: Math.round(performance.now() - call.startedAt) };
  }

  /**
   * The oldest `limit` waiting calls, for the daemon's info: each one's method and, when its
   * admission was timed (see {@link runningCall}), how long it has waited.
   */
  waitingCalls(limit: number): { method: string; waitingMs?: number }[] {
    const found: { method: string; waitingMs?: number }[] = [];
    const now = performance.now();
    for (const call of this.#waiting) {
      if (found.length === limit) break;
      if (call.turn !== undefined) continue;
      found.push(call.admittedAt === undefined ? { method: call.name } : { method: call.name, waitingMs: Math.round(now - call.admittedAt) });
    }
    return found;
  }

  /** Calls answered (result or thrown error) since boot. */
  get served(): number {
    return this.#served;
  }

  /** Calls withdrawn before they ran since boot: cancelled by their caller, or past their deadline. */
  get withdrawn(): number {
    return this.#withdrawn;
  }

  /** The running call's signal (`callSignal()` in hosted code), made on first use. */
  currentSignal(): AbortSignal | undefined {
    const call = this.#current;
    if (call === undefined) return undefined;
    call.controller ??= new AbortController();
    return call.controller.signal;
  }

  /**
   * Admits or refuses a call. Refusals are answered at once on `sink`; an admitted call is
   * answered when it has run. Never throws.
   *
   * The shortcut: when the queue is idle (no task runs, none waits), the call is next anyway,
   * so it runs here, at once; a synchronous method is answered before `submit` returns, without
   * a queue task or a promise. If the method returns a promise, a task that awaits it takes the
   * queue's one slot before `submit` returns, so every later call queues behind it as usual.
   * p-queue's bookkeeping per task (~4 us) was more than the rest of the daemon's work on a
   * pipelined call, and a sequential or pipelined caller of a synchronous method always finds
   * the queue idle (docs/PERFORMANCE.md has the figures).
   */
  submit(sink: CallSink, id: number, name: string, args: readonly unknown[], deadline?: number): void {
    const method = this.#admit(name);
    if (typeof method !== 'function') {
      sink.replyError(id, method);
      return;
    }
    this.#enqueue({ sink, id, name, method, args, deadline, admittedAt: recordingSince() });
  }

  /**
   * Runs `run` as one turn of the mailbox, in the same line as the calls: it starts only when no
   * call or turn runs and none admitted before it waits, and nothing else starts until the
   * promise it returns (if any) settles. A stream (./stream.ts) runs each step of its iterator
   * this way. `run` must not throw. Refused (on `sink.replyError`, nothing runs) once the mailbox
   * is closed, and while it drains unless `duringDrain` (a stream's cleanup, or a step that
   * resumes after an outside wait, must still run in a graceful drain). A forced close answers a
   * waiting turn on `sink.replyError` too. Turns are not bounded by `maxQueuedCalls`: each
   * stream has at most one waiting.
   */
  enter(sink: CallSink, name: string, run: () => Promise<void> | undefined, duringDrain: boolean): void {
    const state = this.#actor.getSnapshot().value;
    if (state !== 'accepting' && !(state === 'draining' && duringDrain)) {
      sink.replyError(0, refusals.streamEnded());
      return;
    }
    this.#enqueue({ sink, id: 0, name, method: run, args: [], turn: true, deadline: undefined, admittedAt: undefined });
  }

  /**
   * Calls `listener` once, when the mailbox stops admitting calls (the statechart's
   * `announceClosing`, on leaving `accepting`: turns it enters then still run in a graceful
   * drain). Returns its removal.
   */
  onClosing(listener: (force: boolean) => void): () => void {
    this.#closingListeners.add(listener);
    return () => this.#closingListeners.delete(listener);
  }

  /** Runs `call` now if the queue is idle, else queues it (see {@link submit}). */
  #enqueue(call: Call): void {
    if (this.#queue.size === 0 && this.#queue.pending === 0) {
      if (call.deadline !== undefined && Date.now() >= call.deadline) {
        this.#withdraw(call, 'expired');
        return;
      }
      const settled = this.#run(call);
      // Never rejects: #run answers the call's outcome, whatever it is.
      if (settled !== undefined) void this.#queue.add(() => settled);
      return;
    }
    this.#waiting.add(call);
    // The task answers its call itself and never rejects, so add()'s promise is not needed.
    void this.#queue.add<void>(() => this.#turn(call));
  }

  /**
   * The caller of call `id` on `sink` gave up. A waiting call is withdrawn: answered with
   * ERR_CALL_CANCELLED, never run. A running call's signal aborts (the method decides what
   * that means; its answer still goes out). Anything else (answered already, unknown) is
   * ignored. Scans the waiting calls: a cancel is rare, and a per-call index would cost every
   * call.
   */
  cancel(sink: CallSink, id: number): void {
    const running = this.#current;
    if (running !== undefined && running.sink === sink && running.id === id) {
      running.controller ??= new AbortController();
      running.controller.abort(new LoopbackSingletonError('The caller gave up on this call', { code: 'ERR_CALL_CANCELLED' }));
      return;
    }
    for (const call of this.#waiting) {
      if (call.sink === sink && call.id === id) {
        this.#waiting.delete(call);
        this.#withdraw(call, 'cancelled');
        return;
      }
    }
  }

  /**
   * Stops admitting calls. Graceful: resolves once every admitted call has been answered.
   * Forced: answers waiting calls with ERR_SHUTDOWN_FORCED without running them and resolves
   * without waiting for the running one. A forced close may follow a graceful one.
   */
  close(force: boolean): Promise<void> {
    this.#actor.send({ type: 'mailbox.close', force });
    return toPromise(this.#actor).then(() => undefined);
  }

  /** Resolves once no call runs or waits. */
  idle(): Promise<void> {
    return this.#queue.onIdle();
  }

  /**
   * The hosted object's own cleanup, `[Symbol.asyncDispose]()` or `dispose()`: called at most
   * once, after the last call. Resolves with what happened, for the log (undefined when there
   * is no hook); never rejects. How long it may take is the daemon statechart's
   * `disposeTimeout`.
   */
  disposeObject(): Promise<string | undefined> {
    if (this.#disposed) return Promise.resolve(undefined);
    this.#disposed = true;
    return disposeHostedObject(this.#object);
  }

  /** The admission policy, in the order a caller learns of it: the method, or the refusal. */
  #admit(name: string): ((...args: unknown[]) => unknown) | WireError {
    // The statechart's snapshot is read, not sent an event: admission runs on every call, and
    // a read keeps xstate off the hot path while the chart stays the only record of the state.
    if (this.#actor.getSnapshot().value !== 'accepting') {
      return refusals.draining();
    }
    const method = isAdmissibleMember(this.#object, name);
    if (method === undefined) {
      return refusals.notAllowed(name);
    }
    if (this.#waiting.size >= this.#maxQueuedCalls) {
      return refusals.full(this.#maxQueuedCalls);
    }
    return method;
  }

  /**
   * A queue task: `call`'s turn. A call no longer waiting was withdrawn and answered already
   * (a forced close empties the queue together with `#waiting`); one past its deadline is
   * answered without running.
   */
  #turn(call: Call): Promise<void> | undefined {
    if (!this.#waiting.delete(call)) return undefined;
    if (call.deadline !== undefined && Date.now() >= call.deadline) {
      this.#withdraw(call, 'expired');
      return undefined;
    }
    return this.#run(call);
  }

  /** Answers a call that will never run: its caller gave up, or its deadline passed. */
  #withdraw(call: Call, outcome: Extract<CallOutcome, 'cancelled' | 'expired'>): void {
    this.#withdrawn++;
    publishCall(call.name, call.id, outcome, call.admittedAt, undefined);
    call.sink.replyError(call.id, outcome === 'cancelled' ? refusals.cancelled() : refusals.expired());
  }

  /**
   * Runs one call and answers it. Returns a promise only while an async method's result is
   * still pending: a synchronous method is answered at once, without a microtask hop.
   */
  #run(call: Call): Promise<void> | undefined {
    this.#current = call;
    if (call.admittedAt !== undefined) call.startedAt = performance.now();
    let result: unknown;
    try {
      result = call.method.apply(this.#object, call.args as unknown[]);
      // Reading `then` may throw too (a getter): that is the method's error like any other.
      if (isThenable(result)) {
        return Promise.resolve(result).then(
          (value) => this.#answerOk(call, value),
          (error: unknown) => this.#answerError(call, error),
        );
      }
    } catch (error) {
      this.#answerError(call, error);
      return undefined;
    }
    this.#answerOk(call, result);
    return undefined;
  }

  #answerOk(call: Call, result: unknown): void {
    if (call.turn === undefined) this.#served++;
    this.#current = undefined;
    if (call.admittedAt !== undefined) publishCall(call.name, call.id, 'ok', call.admittedAt, call.startedAt);
    call.sink.replyOk(call.id, result);
  }

  #answerError(call: Call, error: unknown): void {
    if (call.turn === undefined) this.#served++;
    this.#current = undefined;
    const wire = remoteErrorToWire(error);
    if (call.admittedAt !== undefined) publishCall(call.name, call.id, 'error', call.admittedAt, call.startedAt, wire.code);
    call.sink.replyError(call.id, wire);
  }

  #rejectWaiting(): void {
    this.#queue.clear();
    const waiting = [...this.#waiting];
    this.#waiting.clear();
    for (const call of waiting) {
      call.sink.replyError(call.id, refusals.forced());
    }
  }
}
