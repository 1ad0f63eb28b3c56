/**
 * What a failed start attempt rejects with, from the client statechart's output
 * (machines/client.machine.ts): shared by both scopes' starters (./starter.ts runs the chart).
 */
import type { ClientOutput } from '../../machines/client.machine.js';
import { ConnectionFailedError, LoopbackSingletonError } from '../errors.js';
import { describeSpawnLock } from '../runtime/lock.js';
import type { StartAttempt } from './plan.js';
import { unresponsiveError } from './unresponsive.js';

/**
 * How one daemon's connection ended (it drained, went away, closed): the attempt spawned
 * another, and a start that ends on one (its spawns used up) failed to start, not a call.
 */
const CONNECTION_ENDS = new Set(['ERR_DAEMON_DRAINING', 'ERR_DAEMON_LOST', 'ERR_DAEMON_CONNECTION']);

/**
 * What a failed attempt rejects with. The error that ended it (a factory error, a mismatch) as
 * it is, unless it is how one connection ended: that is the cause of a start failure. At the
 * deadline: the unresponsive daemon it waited on, or else the timeout naming where it was
 * stuck, with the last error met on the way (a draining daemon since gone, a dead record) as
 * its cause, never in its place.
 */
export function attemptFailure(attempt: StartAttempt, output: ClientOutput): Error {
  const { plan } = attempt;
  // The most recent steps say what happened; a long retry loop would repeat itself.
  const tried = (output.trail.length > 12 ? ['...', ...output.trail.slice(-12)] : output.trail).join('; ');
  if (output.timedOutIn === undefined) {
    if (output.error instanceof LoopbackSingletonError && !CONNECTION_ENDS.has(output.error.code)) return output.error;
    return new ConnectionFailedError(`Could not start or reach the daemon "${plan.name}": ${(output.error as Error)?.message ?? output.error} (${tried})`, {
      cause: output.error,
    });
  }
  const unresponsive = unresponsiveError(plan, output);
  if (unresponsive) return unresponsive;
  // A daemon still starting at the deadline: its factory (or its bind) hung. It was killed;
  // its log has its last step, and this client's line saying so.
  const starting =
    output.timedOutIn.includes('awaitingReady') && output.spawned
      ? `: the daemon it spawned (pid ${output.spawned.pid}) was still starting ` +
        `(creating the object: the factory had not returned, or binding its socket${attempt.cluster === undefined ? '' : ', or waiting for its place in etcd'}) and was killed`
      : // Waiting for the lock: who holds it says whether another start is slow or stuck.
        output.timedOutIn === '"locking"'
        ? `: ${attempt.cluster === undefined ? describeSpawnLock(plan.paths) : `the right to start it is held elsewhere in the cluster (etcd at ${attempt.cluster.endpoints.text})`}`
        : '';
  return new ConnectionFailedError(
    `Could not start or reach the daemon "${plan.name}" within ${plan.options.startTimeoutMs} ms ` +
      `(stuck in ${output.timedOutIn}${starting}; ${tried}). See ${plan.paths.log}`,
    { cause: output.error },
  );
}
