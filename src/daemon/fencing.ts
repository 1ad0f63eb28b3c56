/**
 * What hosted code may know about its daemon's place in a cluster (`scope: 'cluster'`):
 * {@link fencingToken}, to pass to what the object writes elsewhere, so that a store can refuse
 * the writes of a daemon that another has replaced. Hosted code imports it from
 * `loopback-singleton/daemon`; a cluster daemon provides its place once it is published.
 *
 * Like the call signal's source (./call-context.ts), the place lives on `globalThis` under a
 * registered symbol: hosted code may import another copy of this package than the daemon runs.
 */

/** The daemon's side: its place's token, and whether it still holds the place. */
export interface FencingSource {
  readonly token: bigint;
  isHeld(): boolean;
}

const SOURCE = Symbol.for('loopback-singleton.fencing-source');

type Slot = { [SOURCE]?: FencingSource };

/** Called by a cluster daemon once its place is published (./cluster-place.ts). */
export function provideFencing(source: FencingSource): void {
  (globalThis as Slot)[SOURCE] = source;
}

/**
 * This daemon's fencing token: the etcd create revision of its place in the cluster registry,
 * strictly larger for every daemon that holds the name after it. Pass it with what the hosted
 * object writes to another store, and have the store keep the largest token it has seen and
 * refuse a smaller one: a daemon that was paused or cut off past its lease, then woke, is
 * refused there too (its own replies are fenced by the daemon already). `undefined` in a local
 * daemon (`scope: 'user'`), outside a daemon, and once the place is lost (the daemon drains).
 * @example
 * import { fencingToken } from 'loopback-singleton/daemon';
 * export class Orders {
 *   async place(order) {
 *     await db.query('UPDATE orders SET ... WHERE $1 >= fence', [fencingToken()]);
 *   }
 * }
 */
export function fencingToken(): bigint | undefined {
  const source = (globalThis as Slot)[SOURCE];
  return source?.isHeld() ? source.token : undefined;
}
