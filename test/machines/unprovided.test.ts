/**
 * What the charts do before the runtime provides their effects (`machine.provide(...)`): every
 * invoked actor fails at once, naming itself, so a chart run with an implementation missing
 * stops with a reason instead of hanging; and the handshake guards that check a proof believe
 * none, so an unprovided handshake never authenticates a peer.
 */
import { describe, expect, it } from 'vitest';
import { type AnyActorLogic, type AnyStateMachine, createActor } from 'xstate';
import { clientHandshakeMachine } from '../../machines/client-handshake.machine.js';
import { clientMachine } from '../../machines/client.machine.js';
import { daemonHandshakeMachine } from '../../machines/daemon-handshake.machine.js';
import { daemonMachine } from '../../machines/daemon.machine.js';
import { mailboxMachine } from '../../machines/mailbox.machine.js';
import { supervisorMachine } from '../../machines/supervisor.machine.js';

/** Each chart with invoked actors, the prefix of its placeholder errors, and the actors it names. */
const CHARTS: ReadonlyArray<{ name: string; machine: AnyStateMachine; actors: readonly string[] }> = [
  {
    name: 'client',
    machine: clientMachine,
    actors: ['readMetadata', 'connect', 'acquireLock', 'recheck', 'cleanStale', 'replaceDaemon', 'awaitExit', 'spawnDaemon', 'awaitReady'],
  },
  {
    name: 'daemon',
    machine: daemonMachine,
    actors: ['loadObject', 'bindServer', 'publishMetadata', 'answerCalls', 'finishRunning', 'dispose', 'closeConnections'],
  },
  { name: 'mailbox', machine: mailboxMachine, actors: ['awaitIdle'] },
  { name: 'supervisor', machine: supervisorMachine, actors: ['reconnect'] },
];

/** The error an actor logic fails with when run on its own. */
async function failureOf(logic: AnyActorLogic): Promise<unknown> {
  const actor = createActor(logic, { input: {} });
  const failed = new Promise<unknown>((resolve) => actor.subscribe({ error: resolve, complete: () => resolve(undefined) }));
  actor.start();
  return failed;
}

describe('an unprovided chart fails, naming what it lacks', () => {
  for (const { name, machine, actors } of CHARTS) {
    it(`${name}: placeholders for exactly its invoked actors`, () => {
      expect(Object.keys(machine.implementations.actors).sort()).toEqual([...actors].sort());
    });

    it.each(actors)(`${name}: the placeholder %s rejects, naming itself`, async (actor) => {
      const error = await failureOf(machine.implementations.actors[actor] as AnyActorLogic);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toBe(`${name} machine: actor "${actor}" was not provided`);
    });
  }

  it('an unprovided daemon fails its boot with the placeholder as the error', async () => {
    const actor = createActor(daemonMachine).start();
    await new Promise<void>((resolve) => actor.subscribe({ complete: resolve }));
    const snapshot = actor.getSnapshot();
    expect(snapshot.value).toBe('failed');
    expect(snapshot.context.error).toMatchObject({ code: 'ERR_FACTORY', message: 'daemon machine: actor "loadObject" was not provided' });
  });
});

describe('an unprovided handshake believes no proof', () => {
  it.each([
    ['client', 'isDaemonProof', clientHandshakeMachine],
    ['client', 'isSignedRefusal', clientHandshakeMachine],
    ['daemon', 'isClientProof', daemonHandshakeMachine],
  ] as const)('%s handshake: %s is false', (_side, guard, machine) => {
    const check = machine.implementations.guards[guard] as (...args: unknown[]) => unknown;
    expect(check({ context: {}, event: {} }, {})).toBe(false);
  });
});
