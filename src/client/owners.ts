/**
 * What an actor's effects belong to, found from the actor system they receive. A machine
 * provided once per process (provide() builds a new machine, too costly per connect) has
 * effects that cannot close over their attempt or proxy; each root actor has its own system,
 * so the system leads to it.
 */
import type { AnyActorRef } from 'xstate';

type ActorSystem = AnyActorRef['system'];

/** Owners of root actors, by their actor system. */
export class SystemOwners<T extends object> {
  readonly #owners = new WeakMap<ActorSystem, T>();
  readonly #what: string;

  /** @param what names the owner in the error a missing one raises (a bug, never input). */
  constructor(what: string) {
    this.#what = what;
  }

  /** Registers `owner` for `actor`'s system; call before the actor starts. */
  set(actor: AnyActorRef, owner: T): void {
    this.#owners.set(actor.system, owner);
  }

  /** The owner of the actor whose effect received `system`. */
  of(system: ActorSystem): T {
    const owner = this.#owners.get(system);
    if (owner === undefined) throw new Error(`loopback-singleton: an actor ran without its ${this.#what}`);
    return owner;
  }
}
