/**
 * The mailbox actor's runtime: the only code that touches the hosted object. The mailbox
 * statechart (machines/mailbox.machine.ts) governs its lifecycle; a p-queue with
 * concurrency 1 carries the calls, so no two calls on the object ever overlap, async
 * methods included.
 *
 * The queue's unit of work is a batch: the calls admitted while the previous batch was still
 * waiting or running, in arrival order. A batch runs its calls one after another, each to
 * completion (an async method's promise included) before the next starts; p-queue runs one
 * batch at a time. When a batch runs out of calls and no other batch waits, it stays open
 * while calls keep coming, until {@link LINGER_MS} passes without one: a call admitted
 * meanwhile runs in that batch's turn at once, in `submit` (nothing runs and nothing waits
 * before it, so it is next anyway); an async method's promise is handed to the batch, which
 * awaits it before anything else. A steady sequential caller and a pipelined burst cost one
 * queue task, not one per call, and a synchronous call no promise (p-queue's bookkeeping and
 * the promise hops were most of the daemon's own CPU per call).
 */
import PQueue from 'p-queue';
import { createActor, fromPromise, toPromise, type Actor, type InspectionEvent } from 'xstate';
import { isAdmissibleMember, mailboxMachine } from '../../machines/mailbox.machine.js';
import { remoteErrorToWire, type ErrorCode, type WireError } from '../errors.js';

/** Where a call's outcome goes: its connection. Exactly one of the two is called per call. */
export interface CallSink {
  replyOk(id: number, result: unknown): void;
  replyError(id: number, error: WireError): void;
}

/** One admitted call waiting for (or having) its turn. */
interface Admitted {
  readonly sink: CallSink;
  readonly id: number;
  /** The member's name, for the log of a drain that abandons it. */
  readonly name: string;
  readonly method: (...args: unknown[]) => unknown;
  readonly args: readonly unknown[];
}

/** Calls admitted together, run in order by one queue task. */
type Batch = Admitted[];

/**
 * How long a batch that ran out of calls waits for the next one before its task ends. A linger
 * costs nothing but a pending timer, which fires once per period while calls keep coming: a
 * longer one wakes the daemon less often; closing ends a linger at once.
 */
export const LINGER_MS = 20;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function refusal(code: ErrorCode, name: string, message: string): WireError {
  return { code, name, message };
}

/** The hosted object's door: admission policy, sequential execution, queue depth. */
export class Mailbox {
  readonly #object: object;
  readonly #maxQueuedCalls: number;
  readonly #queue = new PQueue({ concurrency: 1 });
  /** Admitted calls not yet started, oldest first; a forced close answers them. */
  readonly #waiting = new Set<Admitted>();
  /** The batch waiting in the queue or lingering, which newly admitted calls join. */
  #open: Batch | undefined;
  /** Set while a batch lingers: hands it the calls admitted meanwhile (true) or ends it (false). */
  #resumeLinger: ((more: boolean) => void) | undefined;
  /** Calls run during lingers so far; the timer compares it with what it saw last time. */
  #lingerCalls = 0;
  #lingerCallsSeen = 0;
  /** Armed while a linger may need ending; re-armed rather than created per call. */
  #lingerTimer: NodeJS.Timeout | undefined;
  /** Calls executing now (0 or 1). */
  #running = 0;
  /** The call executing now, if any: a drain deadline names it in the log. */
  #current: Admitted | undefined;
  /** The promise of an async call started during a linger; its batch awaits it next. */
  #inline: Promise<void> | undefined;
  readonly #actor: Actor<typeof mailboxMachine>;
  /** Mirrors the machine's `accepting` state so the per-call check costs a field read. */
  #accepting = true;
  #served = 0;
  #disposed = false;

  constructor(object: object, maxQueuedCalls: number, inspect?: (event: InspectionEvent) => void) {
    this.#object = object;
    this.#maxQueuedCalls = maxQueuedCalls;
    this.#actor = createActor(
      mailboxMachine.provide({
        actors: { awaitIdle: fromPromise(() => this.#queue.onIdle()) },
        actions: { rejectWaiting: () => this.#rejectWaiting() },
      }),
      inspect === undefined ? undefined : { inspect },
    );
    this.#actor.subscribe((snapshot) => {
      this.#accepting = snapshot.value === 'accepting';
      // Closing: no call will join a lingering batch any more; let its task end now.
      if (!this.#accepting) this.#resumeLinger?.(false);
    });
    this.#actor.start();
  }

  /** Admitted calls waiting for their turn. */
  get queued(): number {
    return this.#waiting.size;
  }

  /** Calls executing now (0 or 1). */
  get running(): number {
    return this.#running;
  }

  /** The method executing now, if any. */
  get runningMethod(): string | undefined {
    return this.#current?.name;
  }

  /** Calls answered (result or thrown error) since boot. */
  get served(): number {
    return this.#served;
  }

  /**
   * Admits or refuses a call. Refusals are answered at once on `sink`; an admitted call is
   * answered when it has run. Never throws.
   */
  submit(sink: CallSink, id: number, name: string, args: readonly unknown[]): void {
    if (!this.#accepting) {
      sink.replyError(id, refusal('ERR_DAEMON_DRAINING', 'DaemonConnectionError', 'The daemon is shutting down and accepts no new calls; the call was not executed'));
      return;
    }
    const method = isAdmissibleMember(this.#object, name);
    if (method === undefined) {
      sink.replyError(
        id,
        refusal('ERR_METHOD_NOT_ALLOWED', 'MethodNotAllowedError', `"${name}" is not a public method of the hosted object (private, unknown, or not a function)`),
      );
      return;
    }
    if (this.#waiting.size >= this.#maxQueuedCalls) {
      sink.replyError(
        id,
        refusal(
          'ERR_MAILBOX_FULL',
          'MailboxFullError',
          `The mailbox already holds ${this.#maxQueuedCalls} waiting calls (maxQueuedCalls); retry later or raise maxQueuedCalls`,
        ),
      );
      return;
    }
    const call: Admitted = { sink, id, name, method, args };
    if (this.#resumeLinger !== undefined && this.#running === 0) {
      // A batch lingers: nothing runs, nothing waits. The call runs now, in its turn.
      this.#lingerCalls++;
      this.#running = 1;
      const pending = this.#run(call);
      if (pending === undefined) {
        this.#running = 0;
      } else {
        this.#inline = pending;
        this.#resumeLinger(true);
      }
      return;
    }
    this.#waiting.add(call);
    if (this.#open !== undefined) {
      this.#open.push(call);
      return;
    }
    const batch: Batch = [call];
    this.#open = batch;
    // The task answers its calls itself and never rejects, so add()'s promise is not needed.
    void this.#queue.add(() => this.#runBatch(batch));
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
  async disposeObject(): Promise<string | undefined> {
    if (this.#disposed) return undefined;
    this.#disposed = true;
    const object = this.#object as { [Symbol.asyncDispose]?: unknown; dispose?: unknown };
    const hook = typeof object[Symbol.asyncDispose] === 'function' ? object[Symbol.asyncDispose] : object.dispose;
    if (typeof hook !== 'function') return undefined;
    return Promise.resolve()
      .then(() => (hook as () => unknown).call(this.#object))
      .then(
        () => 'dispose hook done',
        (error: unknown) => `dispose hook threw: ${(error as Error)?.stack ?? String(error)}`,
      );
  }

  async #runBatch(batch: Batch): Promise<void> {
    for (;;) {
      // Running: calls admitted from now on form the next batch.
      if (this.#open === batch) this.#open = undefined;
      if (this.#inline !== undefined) {
        await this.#inline;
        this.#inline = undefined;
        this.#running = 0;
      }
      for (const call of batch) {
        // Not waiting any more: a forced close has answered it.
        if (!this.#waiting.delete(call)) continue;
        this.#running = 1;
        const running = this.#run(call);
        if (running !== undefined) await running;
        this.#running = 0;
      }
      // Another batch already waits with later calls, or the mailbox closes: end, in order.
      if (this.#open !== undefined || !this.#accepting) return;
      batch.length = 0;
      this.#open = batch;
      if (!(await this.#linger())) return;
    }
  }

  /**
   * Waits while calls arriving within LINGER_MS of each other run in `submit`: resolves true
   * when an async one needs the batch to await it, false when the linger ends.
   */
  #linger(): Promise<boolean> {
    this.#lingerCallsSeen = this.#lingerCalls;
    // One timer serves a whole linger, however many calls run in it.
    this.#lingerTimer ??= setTimeout(() => this.#lingerTimeout(), LINGER_MS);
    return new Promise((resolve) => {
      this.#resumeLinger = (more) => {
        this.#resumeLinger = undefined;
        // Ending: calls admitted from now on need a new batch.
        if (!more) this.#open = undefined;
        resolve(more);
      };
    });
  }

  /** Ends the linger once a whole LINGER_MS went by without a call (1-2 periods after the last). */
  #lingerTimeout(): void {
    this.#lingerTimer = undefined;
    // Running calls now: the next linger arms its own timer.
    if (this.#resumeLinger === undefined) return;
    if (this.#lingerCalls === this.#lingerCallsSeen) {
      this.#resumeLinger(false);
      return;
    }
    this.#lingerCallsSeen = this.#lingerCalls;
    this.#lingerTimer = setTimeout(() => this.#lingerTimeout(), LINGER_MS);
  }

  /**
   * Runs one call and answers it. Returns a promise only while an async method's result is
   * still pending: a synchronous method is answered at once, without a microtask hop.
   */
  #run(call: Admitted): Promise<void> | undefined {
    let result: unknown;
    let pending = false;
    this.#current = call;
    try {
      result = call.method.apply(this.#object, call.args as unknown[]);
      // Reading `then` may throw too (a getter): that is the method's error like any other.
      pending = isThenable(result);
    } catch (error) {
      this.#answerError(call, error);
      return undefined;
    }
    if (!pending) {
      this.#answerOk(call, result);
      return undefined;
    }
    return Promise.resolve(result).then(
      (value) => this.#answerOk(call, value),
      (error: unknown) => this.#answerError(call, error),
    );
  }

  #answerOk(call: Admitted, result: unknown): void {
    this.#served++;
    if (this.#current === call) this.#current = undefined;
    call.sink.replyOk(call.id, result);
  }

  #answerError(call: Admitted, error: unknown): void {
    this.#served++;
    if (this.#current === call) this.#current = undefined;
    call.sink.replyError(call.id, remoteErrorToWire(error));
  }

  #rejectWaiting(): void {
    this.#queue.clear();
    this.#resumeLinger?.(false);
    this.#open = undefined;
    for (const call of this.#waiting) {
      call.sink.replyError(
        call.id,
        refusal('ERR_SHUTDOWN_FORCED', 'LoopbackSingletonError', 'The daemon was shut down with force before this call ran; it was not executed'),
      );
    }
    this.#waiting.clear();
  }
}
