/**
 * A request in flight on a client connection (./connection.ts): what settles it, and the
 * caller's deadline and abort signal, armed only for a call that has either.
 */
import { LoopbackSingletonError, ProtocolError } from '../errors.js';
import { locateRefusedKey } from '../wire/unencodable.js';

/**
 * Per-call options. A caller that gives up (either option) is rejected at once, and the daemon
 * is told (a `cancel` message): a call that has not started is withdrawn and never runs; a
 * running one sees its `callSignal()` abort.
 */
export interface CallOptions {
  /**
   * Reject the caller after this long (`ERR_CALL_TIMEOUT`). The deadline travels with the
   * call: one whose turn comes after it is not run.
   */
  readonly timeoutMs?: number | undefined;
  /** Reject the caller on abort, with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
}

/** One request waiting for its answer. */
export interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  /** Present only for calls with a deadline or a signal. */
  cleanup?: (() => void) | undefined;
  /** The call's signal, which also stops the stream the call may turn into. */
  signal?: AbortSignal | undefined;
}

/**
 * Arms `pending`'s deadline and abort listener: when either fires, `giveUp` gets the error the
 * caller is rejected with (the connection settles the request and tells the daemon). Sets
 * `pending.cleanup`, which disarms both.
 */
export function watchPending(pending: Pending, options: CallOptions, giveUp: (error: Error) => void): void {
  const { timeoutMs, signal } = options;
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(
          () =>
            giveUp(
              new LoopbackSingletonError(
                `The call did not answer within ${timeoutMs} ms; the daemon was told: if it had not started it will not run, if it runs its callSignal() aborts`,
                { code: 'ERR_CALL_TIMEOUT' },
              ),
            ),
          timeoutMs,
        );
  const onAbort = () => giveUp(signal!.reason as Error);
  signal?.addEventListener('abort', onAbort, { once: true });
  pending.signal = signal;
  pending.cleanup = () => {
    if (timer) clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  };
}

/** A call's arguments refused as unencodable, with the method named. */
export function cannotSend(method: string, error: unknown): unknown {
  if (!(error instanceof ProtocolError) || error.code !== 'ERR_UNENCODABLE') return error;
  return new ProtocolError(`Cannot send the arguments of "${method}" (the call was not sent): ${error.message}`, { code: error.code, cause: error.cause });
}

/**
 * A reply our decoder refused for a map key that is not a scalar (the method returned a `Map`
 * keyed by objects): its call's id and the `ERR_UNENCODABLE` that call alone rejects with,
 * naming where the key is (the connection goes on); undefined when the payload is not such a reply.
 */
export function unreceivableReply(payload: Buffer): { readonly id: number; readonly error: ProtocolError } | undefined {
  const refused = locateRefusedKey(payload, false, 'reply');
  if (refused === undefined) return undefined;
  return { id: refused.id, error: new ProtocolError(`The method ran, but its result cannot be received: ${refused.where}`, { code: 'ERR_UNENCODABLE' }) };
}
