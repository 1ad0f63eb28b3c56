/**
 * The client statechart on its own: every effect is a fake supplied with `provide()`, the
 * start timeout runs on vitest's fake clock. No sockets, no files, no processes, no lock.
 *
 * Every state and every transition of machines/client.machine.ts is taken by at least one
 * test below; the `covers` tag in each title says which.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, fromPromise, type Actor } from 'xstate';
import { clientMachine, type ClientContext, type LockOutcome } from '../../machines/client.machine.js';
import type { StartAttempt } from '../../src/client/plan.js';
import type { HeldLock } from '../../src/runtime/lock.js';
import { ConnectionFailedError, DaemonConnectionError, FactoryError, FactoryMismatchError, HandshakeError, RegistryError } from '../../src/errors.js';
import type { MetadataRead } from '../../src/runtime/metadata.js';
import type { DaemonMetadata } from '../../src/types.js';
import { deferred, settle, type Deferred } from '../support/machines.js';

const START_TIMEOUT = 1_000;

/** The attempt the machine is given: the chart hands it to every effect and never looks inside. */
const ATTEMPT = Object.freeze({ plan: 'the plan', deadline: 0, standby: undefined }) as unknown as StartAttempt;
/** The spawn lock acquireLock yields: the chart keeps it and hands it to releaseLock. */
const LOCK: HeldLock = Object.freeze({ release: async () => {}, compromised: undefined });
const ACQUIRED = { outcome: 'acquired' satisfies LockOutcome, lock: LOCK };
const PUBLISHED = { outcome: 'published' satisfies LockOutcome };
/** cleanStale found no remains of a dead daemon. */
const NOTHING_DEAD = { deadFound: false };

const ACTOR_NAMES = ['readMetadata', 'connect', 'acquireLock', 'recheck', 'cleanStale', 'replaceDaemon', 'awaitExit', 'spawnDaemon', 'awaitReady'] as const;
type ActorName = (typeof ACTOR_NAMES)[number];

function metadata(pid: number, instanceId = `i-${pid}`): DaemonMetadata {
  return {
    pid,
    instanceId,
    transport: 'tcp',
    host: '127.0.0.1',
    port: 40_000 + pid,
    protocolVersion: 1,
    packageVersion: '0.1.0',
    factoryId: 'f'.repeat(32),
    startedAt: 1_700_000_000_000,
  };
}

const RUNNING = metadata(101);
const SPAWNED = metadata(202);

const valid = (meta: DaemonMetadata): MetadataRead => ({ status: 'valid', metadata: meta });
const ABSENT: MetadataRead = { status: 'absent' };

/** A connection as the machine sees it: an opaque object. */
function connection(label: string): object {
  return { label };
}

/** An error with a `code`, like the ones the real effects throw. */
function coded(code: string, message = `failed with ${code}`): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/** One fake effect: what one invocation does with its input and signal. */
type Effect = (args: { input: unknown; signal: AbortSignal }) => Promise<unknown>;

const ok =
  (value?: unknown): Effect =>
  async () =>
    value;
const fail =
  (error: unknown): Effect =>
  async () => {
    throw error;
  };
/** Settles only when the test settles the returned gate. */
function gated(gate: Deferred<unknown>): Effect {
  return () => gate.promise;
}
/** One effect per invocation, in order; the last one repeats. */
function sequence(...effects: Effect[]): Effect {
  let call = 0;
  return (args) => effects[Math.min(call++, effects.length - 1)]!(args);
}

interface Invocation {
  /** What the effect gets besides the attempt (the record, the start reason, the launch), if anything. */
  readonly input: unknown;
  /** The attempt the effect was handed. */
  readonly attempt: unknown;
  readonly signal: AbortSignal;
}

/** Splits an effect's input into the attempt and the rest (see machines/client.machine.ts). */
function invocationOf(actorInput: unknown, signal: AbortSignal): Invocation {
  if (actorInput === ATTEMPT) return { input: undefined, attempt: ATTEMPT, signal };
  const { attempt, ...rest } = actorInput as { attempt: unknown } & Record<string, unknown>;
  const values = Object.values(rest);
  return { input: values.length === 1 ? values[0] : rest, attempt, signal };
}

interface Harness {
  readonly actor: Actor<typeof clientMachine>;
  /** Every invocation of each fake actor, in order. */
  readonly calls: Record<ActorName, Invocation[]>;
  readonly releaseLock: ReturnType<typeof vi.fn>;
  /** `<actor>:start`, `<actor>:done`, `<actor>:error` and `releaseLock`, in the order they happened. */
  readonly log: string[];
  /** Every distinct state value the actor went through, as JSON. */
  readonly path: string[];
  context(): ClientContext;
  value(): unknown;
  status(): string;
}

const actors: Actor<typeof clientMachine>[] = [];

function startClient(
  effects: Partial<Record<ActorName, Effect>>,
  input: { replaceOnMismatch: boolean } = { replaceOnMismatch: false },
  { budgetMs = START_TIMEOUT, restart = false } = {},
): Harness {
  const calls = Object.fromEntries(ACTOR_NAMES.map((name) => [name, [] as Invocation[]])) as Record<ActorName, Invocation[]>;
  const log: string[] = [];
  const releaseLock = vi.fn((_lock: HeldLock | undefined) => {
    log.push('releaseLock');
  });
  const fake = (name: ActorName) =>
    // biome-ignore lint/suspicious/noExplicitAny: typed loosely on purpose: one fake stands in for actors of different input and output types.
    fromPromise<any, any>(async ({ input: actorInput, signal }) => {
      calls[name].push(invocationOf(actorInput, signal));
      log.push(`${name}:start`);
      const effect = effects[name] ?? fail(new Error(`the test did not expect ${name} to run`));
      try {
        const output = await effect({ input: calls[name].at(-1)!.input, signal });
        log.push(`${name}:done`);
        return output;
      } catch (error) {
        log.push(`${name}:error`);
        throw error;
      }
    });
  const machine = clientMachine.provide({
    actors: {
      readMetadata: fake('readMetadata'),
      connect: fake('connect'),
      acquireLock: fake('acquireLock'),
      recheck: fake('recheck'),
      cleanStale: fake('cleanStale'),
      replaceDaemon: fake('replaceDaemon'),
      awaitExit: fake('awaitExit'),
      spawnDaemon: fake('spawnDaemon'),
      awaitReady: fake('awaitReady'),
    },
    actions: { releaseLock: (_, { lock }) => releaseLock(lock) },
  });
  const actor = createActor(machine, { input: { ...input, budgetMs, restart, attempt: ATTEMPT } });
  actors.push(actor);
  const path: string[] = [];
  actor.subscribe({
    next: (snapshot) => {
      const value = JSON.stringify(snapshot.value);
      if (path.at(-1) !== value) path.push(value);
    },
    error: () => {},
  });
  actor.start();
  const first = JSON.stringify(actor.getSnapshot().value);
  if (path[0] !== first) path.unshift(first);
  return {
    actor,
    calls,
    releaseLock,
    log,
    path,
    context: () => actor.getSnapshot().context,
    value: () => actor.getSnapshot().value,
    status: () => actor.getSnapshot().status,
  };
}

/** The JSON form of a state value, as `path` records it. */
const at = (value: unknown) => JSON.stringify(value);

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  for (const actor of actors.splice(0)) actor.stop();
  vi.useRealTimers();
});

describe('client machine: warm path', () => {
  it('valid metadata -> connecting -> connected, never touching the lock (covers discovering->connecting, connecting->connected)', async () => {
    const conn = connection('warm');
    const client = startClient({ readMetadata: ok(valid(RUNNING)), connect: ok(conn) });
    await settle();

    expect(client.status()).toBe('done');
    expect(client.value()).toBe('connected');
    expect(client.path).toEqual([at('discovering'), at('connecting'), at('connected')]);
    expect(client.calls.connect).toHaveLength(1);
    expect(client.calls.connect[0]!.input).toBe(RUNNING);
    for (const name of ['acquireLock', 'recheck', 'cleanStale', 'spawnDaemon', 'awaitReady'] as const) {
      expect(client.calls[name], name).toHaveLength(0);
    }
    expect(client.releaseLock).not.toHaveBeenCalled();
    const output = client.actor.getSnapshot().output!;
    expect(output.connection).toBe(conn);
    expect(output.error).toBeUndefined();
    expect(output.timedOutIn).toBeUndefined();
    expect(output.trail).toEqual([`metadata: pid ${RUNNING.pid}`]);
  });

  it('stops the start timeout once connected: no timer is left behind', async () => {
    const client = startClient({ readMetadata: ok(valid(RUNNING)), connect: ok(connection('warm')) });
    await settle();
    expect(client.value()).toBe('connected');
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(START_TIMEOUT * 2);
    expect(client.value()).toBe('connected');
    expect(client.actor.getSnapshot().output!.timedOutIn).toBeUndefined();
  });
});

describe('client machine: cold start under the lock', () => {
  it('absent metadata -> locking -> locked.{rechecking, cleaningStale, spawning, awaitingReady, connecting} -> connected (covers every cold-path transition)', async () => {
    const conn = connection('spawned');
    const handle = { launch: 'handle' };
    const connectGate = deferred<unknown>();
    const client = startClient({
      readMetadata: ok(ABSENT),
      acquireLock: ok(ACQUIRED),
      recheck: ok({ reason: 'metadata absent' }),
      cleanStale: ok(NOTHING_DEAD),
      spawnDaemon: ok(handle),
      awaitReady: ok(SPAWNED),
      connect: gated(connectGate),
    });
    await settle();

    // Everything up to the handshake with the new daemon is done, and the lock is still held.
    expect(client.value()).toEqual({ locked: 'connecting' });
    expect(client.releaseLock).not.toHaveBeenCalled();

    connectGate.resolve(conn);
    await settle();

    expect(client.value()).toBe('connected');
    expect(client.path).toEqual([
      at('discovering'),
      at('locking'),
      at({ locked: 'rechecking' }),
      at({ locked: 'cleaningStale' }),
      at({ locked: 'spawning' }),
      at({ locked: 'awaitingReady' }),
      at({ locked: 'connecting' }),
      at('connected'),
    ]);
    expect(client.releaseLock).toHaveBeenCalledTimes(1);
    expect(client.log.indexOf('releaseLock')).toBeGreaterThan(client.log.indexOf('connect:done'));
    expect(client.log.at(-1)).toBe('releaseLock');

    // Inputs: no stale record to wait past or to clean, the spawn handle to awaitReady,
    // the new metadata to connect.
    expect(client.calls.acquireLock[0]!.input).toBeUndefined();
    expect(client.calls.cleanStale[0]!.input).toBeUndefined();
    expect(client.calls.awaitReady[0]!.input).toBe(handle);
    expect(client.calls.connect).toHaveLength(1);
    expect(client.calls.connect[0]!.input).toBe(SPAWNED);
    // Every effect was handed the attempt the machine was given; the lock acquireLock
    // yielded is the one released.
    const invocations = Object.values(client.calls).flat();
    expect(invocations).toHaveLength(7);
    for (const invocation of invocations) expect(invocation.attempt).toBe(ATTEMPT);
    expect(client.releaseLock).toHaveBeenCalledWith(LOCK);
    expect(client.context().lock).toBeUndefined();

    const output = client.actor.getSnapshot().output!;
    expect(output.connection).toBe(conn);
    expect(output.spawned).toBe(handle);
    expect(output.error).toBeUndefined();
    expect(output.trail).toEqual(['metadata: absent', 'under the lock: metadata absent', `spawned: pid ${SPAWNED.pid}`]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('malformed metadata also leads to locking, and the trail says why (covers discovering->locking)', async () => {
    const client = startClient({ readMetadata: ok({ status: 'malformed', reason: 'not JSON' } satisfies MetadataRead), acquireLock: gated(deferred()) });
    await settle();
    expect(client.value()).toBe('locking');
    expect(client.context().trail).toEqual(['metadata: malformed (not JSON)']);
    expect(client.context().metadata).toBeUndefined();
    expect(client.calls.connect).toHaveLength(0);
  });

  it('a stale daemon: connect fails -> locking, recorded in the trail, then cleaned and replaced (covers connecting->locking)', async () => {
    const refused = new ConnectionFailedError('connect ECONNREFUSED 127.0.0.1:40101');
    const conn = connection('replacement');
    const client = startClient({
      readMetadata: ok(valid(RUNNING)),
      connect: sequence(fail(refused), ok(conn)),
      acquireLock: ok(ACQUIRED),
      recheck: ok({ metadata: RUNNING, reason: `pid ${RUNNING.pid} is not running` }),
      cleanStale: ok(NOTHING_DEAD),
      spawnDaemon: ok({}),
      awaitReady: ok(SPAWNED),
    });
    await settle();

    expect(client.value()).toBe('connected');
    expect(client.path.slice(0, 3)).toEqual([at('discovering'), at('connecting'), at('locking')]);
    expect(client.context().trail).toEqual([
      `metadata: pid ${RUNNING.pid}`,
      'not usable: connect ECONNREFUSED 127.0.0.1:40101',
      `under the lock: pid ${RUNNING.pid} is not running`,
      `spawned: pid ${SPAWNED.pid}`,
    ]);
    // The record found unusable is what acquireLock must not mistake for a newly published
    // daemon; the stale record found under the lock is the one handed to cleanStale.
    expect(client.calls.acquireLock[0]!.input).toBe(RUNNING);
    expect(client.calls.cleanStale[0]!.input).toBe(RUNNING);
    expect(client.calls.connect.map((call) => call.input)).toEqual([RUNNING, SPAWNED]);
    expect(client.releaseLock).toHaveBeenCalledTimes(1);
    expect(client.actor.getSnapshot().output!.connection).toBe(conn);
  });

  it.each<[string, unknown]>([
    ['ERR_CONNECTION_FAILED', new ConnectionFailedError('refused')],
    ['ERR_DAEMON_CONNECTION', new DaemonConnectionError('lost')],
    ['a plain Error without a code', new Error('ECONNRESET')],
    ['an unknown code', coded('ECONNREFUSED')],
    ['a thrown string', 'socket hang up'],
    ['a thrown undefined', undefined],
  ])('treats a connect failure with %s as a stale daemon, not a fatal error', async (_label, error) => {
    const client = startClient({ readMetadata: ok(valid(RUNNING)), connect: fail(error), acquireLock: gated(deferred()) });
    await settle();
    expect(client.value()).toBe('locking');
    expect(client.context().error).toBeUndefined();
    expect(client.context().trail.at(-1)).toMatch(/^not usable: /);
    expect(client.calls.acquireLock).toHaveLength(1);
  });

  it("acquireLock 'published' -> back to discovering, then the published daemon is used (covers locking->discovering)", async () => {
    const conn = connection('published');
    const client = startClient({
      readMetadata: sequence(ok(ABSENT), ok(valid(RUNNING))),
      acquireLock: ok(PUBLISHED),
      connect: ok(conn),
    });
    await settle();

    expect(client.value()).toBe('connected');
    expect(client.path).toEqual([at('discovering'), at('locking'), at('discovering'), at('connecting'), at('connected')]);
    expect(client.calls.readMetadata).toHaveLength(2);
    expect(client.calls.recheck).toHaveLength(0);
    expect(client.releaseLock).not.toHaveBeenCalled();
    expect(client.context().trail).toEqual(['metadata: absent', 'a daemon was published while waiting for the lock', `metadata: pid ${RUNNING.pid}`]);
    expect(client.actor.getSnapshot().output!.connection).toBe(conn);
  });

  it('recheck finds a live daemon -> connected, lock released once, nothing spawned (covers locked.rechecking->connected)', async () => {
    const conn = connection('rechecked');
    const client = startClient({
      readMetadata: ok(ABSENT),
      acquireLock: ok(ACQUIRED),
      recheck: ok({ connection: conn, metadata: RUNNING }),
    });
    await settle();

    expect(client.value()).toBe('connected');
    expect(client.path).toEqual([at('discovering'), at('locking'), at({ locked: 'rechecking' }), at('connected')]);
    expect(client.releaseLock).toHaveBeenCalledTimes(1);
    expect(client.log.at(-1)).toBe('releaseLock');
    expect(client.log.indexOf('releaseLock')).toBeGreaterThan(client.log.indexOf('recheck:done'));
    for (const name of ['cleanStale', 'spawnDaemon', 'awaitReady', 'connect'] as const) expect(client.calls[name], name).toHaveLength(0);
    expect(client.actor.getSnapshot().output!.connection).toBe(conn);
  });

  it('recheck failing with a non-fatal error -> cleaningStale, recorded in the trail (covers locked.rechecking->cleaningStale on error)', async () => {
    const client = startClient({
      readMetadata: ok(ABSENT),
      acquireLock: ok(ACQUIRED),
      recheck: fail(new ConnectionFailedError('handshake timed out')),
      cleanStale: gated(deferred()),
    });
    await settle();

    expect(client.value()).toEqual({ locked: 'cleaningStale' });
    expect(client.context().trail).toEqual(['metadata: absent', 'not usable: handshake timed out']);
    expect(client.context().error).toBeUndefined();
    expect(client.releaseLock).not.toHaveBeenCalled();
  });

  it('uses "no live daemon" in the trail when recheck gives no reason', async () => {
    const client = startClient({ readMetadata: ok(ABSENT), acquireLock: ok(ACQUIRED), recheck: ok({}), cleanStale: gated(deferred()) });
    await settle();
    expect(client.value()).toEqual({ locked: 'cleaningStale' });
    expect(client.context().trail.at(-1)).toBe('under the lock: no live daemon');
  });
});

describe('client machine: failures', () => {
  const FATAL = [
    ['ERR_FACTORY_MISMATCH', () => new FactoryMismatchError('another factory')],
    ['ERR_PROTOCOL_VERSION', () => new HandshakeError('protocol 2 vs 1', { code: 'ERR_PROTOCOL_VERSION' })],
    ['ERR_FACTORY', () => new FactoryError('constructor threw')],
    ['ERR_FACTORY_MISMATCH (plain object)', () => ({ code: 'ERR_FACTORY_MISMATCH', message: 'mismatch' })],
    ['ERR_PROTOCOL_VERSION (plain Error)', () => coded('ERR_PROTOCOL_VERSION')],
    ['ERR_FACTORY (plain object)', () => ({ code: 'ERR_FACTORY', message: 'boom', stack: 'at daemon' })],
    // etcd did not answer: evidence of nothing, so nothing is judged stale, cleaned or started on it.
    ['ERR_REGISTRY_UNAVAILABLE', () => new RegistryError('etcd at etcd://127.0.0.1:1 did not answer', { registry: 'etcd://127.0.0.1:1' })],
  ] as const;

  it.each(FATAL)('a %s from connecting -> failed, without locking (covers connecting->failed)', async (_code, make) => {
    const error = make();
    const client = startClient({ readMetadata: ok(valid(RUNNING)), connect: fail(error) });
    await settle();

    expect(client.status()).toBe('done');
    expect(client.value()).toBe('failed');
    expect(client.path).toEqual([at('discovering'), at('connecting'), at('failed')]);
    expect(client.calls.acquireLock).toHaveLength(0);
    expect(client.releaseLock).not.toHaveBeenCalled();
    const output = client.actor.getSnapshot().output!;
    expect(output.error).toBe(error);
    expect(output.connection).toBeUndefined();
    expect(output.timedOutIn).toBeUndefined();
  });

  it.each(FATAL)('a %s from recheck -> failed, lock released once, nothing cleaned (covers locked.rechecking->failed)', async (_code, make) => {
    const error = make();
    const client = startClient({ readMetadata: ok(ABSENT), acquireLock: ok(ACQUIRED), recheck: fail(error) });
    await settle();

    expect(client.value()).toBe('failed');
    expect(client.path).toEqual([at('discovering'), at('locking'), at({ locked: 'rechecking' }), at('failed')]);
    expect(client.releaseLock).toHaveBeenCalledTimes(1);
    expect(client.calls.cleanStale).toHaveLength(0);
    expect(client.actor.getSnapshot().output!.error).toBe(error);
  });

  it.each(['ERR_FACTORY_MISMATCH', 'ERR_PROTOCOL_VERSION', 'ERR_FACTORY', 'ERR_LOOPBACK_SINGLETON', 'ERR_REGISTRY_UNAVAILABLE'])(
    'connect failing with %s is fatal: failed with that error, never locking',
    async (code) => {
      const error = coded(code);
      const client = startClient({ readMetadata: ok(valid(RUNNING)), connect: fail(error), acquireLock: gated(deferred()) });
      await settle();
      expect(client.value()).toBe('failed');
      expect(client.actor.getSnapshot().output!.error).toBe(error);
      expect(client.calls.acquireLock).toHaveLength(0);
    },
  );

  it.each([
    ['null', null],
    ['a string', 'refused'],
    ['an error with another code', coded('ECONNREFUSED')],
  ])('connect failing with %s is no verdict on the daemon: the record is judged under the lock', async (_label, reason) => {
    const client = startClient({ readMetadata: ok(valid(RUNNING)), connect: fail(reason), acquireLock: gated(deferred()) });
    await settle();
    expect(client.value()).toBe('locking');
    expect(client.status()).toBe('active');
  });

  it('readMetadata throwing -> failed (covers discovering->failed)', async () => {
    const error = coded('EACCES', 'permission denied');
    const client = startClient({ readMetadata: fail(error) });
    await settle();
    expect(client.path).toEqual([at('discovering'), at('failed')]);
    expect(client.actor.getSnapshot().output!.error).toBe(error);
    expect(client.calls.connect).toHaveLength(0);
    expect(client.calls.acquireLock).toHaveLength(0);
    expect(client.releaseLock).not.toHaveBeenCalled();
  });

  it('acquireLock throwing -> failed, and no lock to release (covers locking->failed)', async () => {
    const error = coded('ENOSPC', 'no space left');
    const client = startClient({ readMetadata: ok(ABSENT), acquireLock: fail(error) });
    await settle();
    expect(client.path).toEqual([at('discovering'), at('locking'), at('failed')]);
    expect(client.actor.getSnapshot().output!.error).toBe(error);
    expect(client.releaseLock).not.toHaveBeenCalled();
  });

  it('cleanStale throwing -> failed, lock released once (covers locked.cleaningStale->failed)', async () => {
    const error = coded('EPERM', 'cannot unlink');
    const client = startClient({ readMetadata: ok(ABSENT), acquireLock: ok(ACQUIRED), recheck: ok({}), cleanStale: fail(error) });
    await settle();
    expect(client.path.slice(-2)).toEqual([at({ locked: 'cleaningStale' }), at('failed')]);
    expect(client.actor.getSnapshot().output!.error).toBe(error);
    expect(client.calls.spawnDaemon).toHaveLength(0);
    expect(client.releaseLock).toHaveBeenCalledTimes(1);
  });

  it('spawnDaemon throwing -> failed, lock released once (covers locked.spawning->failed)', async () => {
    const error = coded('ENOENT', 'spawn node ENOENT');
    const client = startClient({ readMetadata: ok(ABSENT), acquireLock: ok(ACQUIRED), recheck: ok({}), cleanStale: ok(NOTHING_DEAD), spawnDaemon: fail(error) });
    await settle();
    expect(client.path.slice(-2)).toEqual([at({ locked: 'spawning' }), at('failed')]);
    expect(client.actor.getSnapshot().output!.error).toBe(error);
    expect(client.calls.awaitReady).toHaveLength(0);
    expect(client.releaseLock).toHaveBeenCalledTimes(1);
  });

  it("awaitReady rejecting with the daemon's factory error -> failed with that very error, lock released (covers locked.awaitingReady->failed)", async () => {
    const factoryError = { code: 'ERR_FACTORY', name: 'FactoryError', message: 'Cannot find module ./nope.js', stack: 'Error: Cannot find module\n    at daemon' };
    const client = startClient({
      readMetadata: ok(ABSENT),
      acquireLock: ok(ACQUIRED),
      recheck: ok({}),
      cleanStale: ok(NOTHING_DEAD),
      spawnDaemon: ok({ pid: 303 }),
      awaitReady: fail(factoryError),
    });
    await settle();

    expect(client.value()).toBe('failed');
    expect(client.path.slice(-2)).toEqual([at({ locked: 'awaitingReady' }), at('failed')]);
    const output = client.actor.getSnapshot().output!;
    expect(output.error).toBe(factoryError);
    expect(output.timedOutIn).toBeUndefined();
    expect(output.connection).toBeUndefined();
    expect(client.calls.connect).toHaveLength(0);
    expect(client.releaseLock).toHaveBeenCalledTimes(1);
  });

  it('connect to the spawned daemon failing fatally -> failed, no second spawn (covers locked.connecting->failed)', async () => {
    const error = new FactoryMismatchError('another factory');
    const client = startClient({
      readMetadata: ok(ABSENT),
      acquireLock: ok(ACQUIRED),
      recheck: ok({}),
      cleanStale: ok(NOTHING_DEAD),
      spawnDaemon: ok({}),
      awaitReady: ok(SPAWNED),
      // A retry would hang here instead of looping, so the assertions below report it.
      connect: sequence(fail(error), gated(deferred())),
    });
    await settle();

    expect(client.path.slice(-2)).toEqual([at({ locked: 'connecting' }), at('failed')]);
    expect(client.actor.getSnapshot().output!.error).toBe(error);
    expect(client.calls.spawnDaemon).toHaveLength(1);
    expect(client.releaseLock).toHaveBeenCalledTimes(1);
  });

  it('a spawned daemon that dies before the handshake is replaced, under the same lock (covers locked.connecting->rechecking)', async () => {
    const client = startClient({
      readMetadata: ok(ABSENT),
      acquireLock: ok(ACQUIRED),
      recheck: ok({}),
      cleanStale: ok(NOTHING_DEAD),
      spawnDaemon: ok({}),
      awaitReady: ok(SPAWNED),
      connect: sequence(fail(new ConnectionFailedError('it died')), ok(connection('second'))),
    });
    await settle();

    expect(client.actor.getSnapshot().value).toBe('connected');
    expect(client.calls.spawnDaemon).toHaveLength(2);
    expect(client.calls.acquireLock).toHaveLength(1);
    expect(client.releaseLock).toHaveBeenCalledTimes(1);
  });

  it('a spawned daemon that exits before reporting is replaced; after five spawns the attempt fails (covers locked.awaitingReady->rechecking)', async () => {
    const died = new ConnectionFailedError('The daemon exited (SIGKILL) before it was ready');
    const client = startClient({
      readMetadata: ok(ABSENT),
      acquireLock: ok(ACQUIRED),
      recheck: ok({}),
      cleanStale: ok(NOTHING_DEAD),
      spawnDaemon: ok({}),
      awaitReady: fail(died),
    });
    await settle();

    expect(client.actor.getSnapshot().value).toBe('failed');
    expect(client.actor.getSnapshot().output!.error).toBe(died);
    expect(client.calls.spawnDaemon).toHaveLength(5);
    expect(client.releaseLock).toHaveBeenCalledTimes(1);
  });
});

describe('client machine: a live daemon that does not answer is waited for, never replaced', () => {
  const UNANSWERED = coded('ERR_DAEMON_UNRESPONSIVE', 'the daemon "svc" (pid 101) is running but did not complete a handshake');

  it('connect unresponsive -> waiting -> discovering again after the retry pause -> connected; no lock, nothing cleaned or spawned (covers connecting->waiting, waiting->discovering)', async () => {
    const conn = connection('continued');
    const client = startClient({ readMetadata: ok(valid(RUNNING)), connect: sequence(fail(UNANSWERED), fail(UNANSWERED), ok(conn)) });
    await settle();
    expect(client.value()).toBe('waiting');
    // Nothing happens until the pause is over.
    await vi.advanceTimersByTimeAsync(49);
    expect(client.value()).toBe('waiting');
    expect(client.calls.readMetadata).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(client.value()).toBe('waiting');
    expect(client.calls.readMetadata).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(50);
    expect(client.value()).toBe('connected');
    expect(client.path).toEqual([
      at('discovering'),
      at('connecting'),
      at('waiting'),
      at('discovering'),
      at('connecting'),
      at('waiting'),
      at('discovering'),
      at('connecting'),
      at('connected'),
    ]);
    for (const name of ['acquireLock', 'recheck', 'cleanStale', 'spawnDaemon', 'awaitReady'] as const) expect(client.calls[name], name).toHaveLength(0);
    const output = client.actor.getSnapshot().output!;
    expect(output.connection).toBe(conn);
    expect(output.unanswered).toBe(2);
    // One line in the trail for the wait, not one per try: the first try's.
    expect(output.trail.filter((line) => line.startsWith('alive but not answering'))).toHaveLength(1);
    expect(output.trail.slice(0, 2)).toEqual([`metadata: pid ${RUNNING.pid}`, expect.stringMatching(/^alive but not answering: /)]);
  });

  it('still not answering when startTimeout fires: failed, with the error, the count and the record; never locked', async () => {
    const client = startClient({ readMetadata: ok(valid(RUNNING)), connect: fail(UNANSWERED) });
    await vi.advanceTimersByTimeAsync(START_TIMEOUT);
    expect(client.value()).toBe('failed');
    const output = client.actor.getSnapshot().output!;
    expect(output.error).toBe(UNANSWERED);
    expect(output.unanswered).toBeGreaterThan(10);
    expect(output.metadata).toBe(RUNNING);
    expect(output.timedOutIn).toBeDefined();
    expect(client.calls.acquireLock).toHaveLength(0);
    expect(client.releaseLock).not.toHaveBeenCalled();
  });

  it('under the lock, a recheck that finds a live daemon not answering lets go of the lock and waits (covers locked.rechecking->waiting)', async () => {
    const conn = connection('mended');
    const client = startClient({
      readMetadata: sequence(ok({ status: 'malformed', reason: 'truncated' }), ok(valid(RUNNING))),
      acquireLock: ok(ACQUIRED),
      recheck: fail(UNANSWERED),
      connect: ok(conn),
    });
    await settle();
    expect(client.value()).toBe('waiting');
    expect(client.releaseLock).toHaveBeenCalledTimes(1);
    expect(client.calls.cleanStale).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(50);
    expect(client.value()).toBe('connected');
    expect(client.calls.spawnDaemon).toHaveLength(0);
  });

  it('the daemon this attempt spawned, alive but not answering the handshake, is waited for, not spawned again (covers locked.connecting->waiting)', async () => {
    const conn = connection('spawned, continued');
    const client = startClient({
      readMetadata: sequence(ok(ABSENT), ok(valid(SPAWNED))),
      acquireLock: ok(ACQUIRED),
      recheck: ok({ reason: 'metadata absent' }),
      cleanStale: ok(NOTHING_DEAD),
      spawnDaemon: ok({ launch: 'handle' }),
      awaitReady: ok(SPAWNED),
      connect: sequence(fail(UNANSWERED), ok(conn)),
    });
    await settle();
    expect(client.value()).toBe('waiting');
    expect(client.releaseLock).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(50);
    expect(client.value()).toBe('connected');
    expect(client.calls.spawnDaemon).toHaveLength(1);
    expect(client.calls.recheck).toHaveLength(1);
  });

  it('a stale daemon (dead process) still goes to the lock: only ERR_DAEMON_UNRESPONSIVE waits', async () => {
    const client = startClient({
      readMetadata: ok(valid(RUNNING)),
      connect: fail(coded('ERR_CONNECTION_FAILED', 'pid 101 is not running')),
      acquireLock: gated(deferred<unknown>()),
    });
    await settle();
    expect(client.value()).toBe('locking');
  });
});

describe('client machine: a draining daemon is waited for until its process exits, never started beside', () => {
  const DRAINING = coded('ERR_DAEMON_DRAINING', 'the daemon "svc" (pid 101) is draining');

  it('connect draining -> awaitingExit -> discovering once it exited -> a fresh start under the lock (covers connecting->awaitingExit, awaitingExit->discovering)', async () => {
    const exited = deferred<void>();
    const client = startClient({
      readMetadata: sequence(ok(valid(RUNNING)), ok({ status: 'absent' })),
      connect: sequence(fail(DRAINING), ok(connection('new'))),
      awaitExit: gated(exited as Deferred<unknown>),
      acquireLock: ok(ACQUIRED),
      recheck: ok({ reason: 'metadata absent' }),
      cleanStale: ok(NOTHING_DEAD),
      spawnDaemon: ok({ handle: 1 }),
      awaitReady: ok(metadata(202)),
    });
    await settle();
    expect(client.value()).toBe('awaitingExit');
    // Nothing is locked, cleaned or spawned while the old process lives, however long.
    await vi.advanceTimersByTimeAsync(START_TIMEOUT / 2);
    expect(client.value()).toBe('awaitingExit');
    for (const name of ['acquireLock', 'cleanStale', 'spawnDaemon'] as const) expect(client.calls[name], name).toHaveLength(0);
    exited.resolve();
    await settle();
    expect(client.value()).toBe('connected');
    expect(client.calls.spawnDaemon).toHaveLength(1);
    expect(client.context().trail.some((line) => line.startsWith('draining: '))).toBe(true);
  });

  it('under the lock, a recheck that finds the draining daemon lets go of the lock and waits for its exit (covers locked.rechecking->awaitingExit)', async () => {
    const client = startClient({
      readMetadata: ok({ status: 'malformed', reason: 'truncated' }),
      acquireLock: ok(ACQUIRED),
      recheck: fail(DRAINING),
      awaitExit: gated(deferred<unknown>()),
    });
    await settle();
    expect(client.value()).toBe('awaitingExit');
    expect(client.releaseLock).toHaveBeenCalledTimes(1);
    expect(client.calls.cleanStale).toHaveLength(0);
  });

  it('still draining when startTimeout fires: failed, the awaitExit signal aborted, nothing spawned', async () => {
    const client = startClient({ readMetadata: ok(valid(RUNNING)), connect: fail(DRAINING), awaitExit: gated(deferred<unknown>()) });
    await vi.advanceTimersByTimeAsync(START_TIMEOUT);
    expect(client.value()).toBe('failed');
    const output = client.actor.getSnapshot().output!;
    expect(output.error).toBe(DRAINING);
    expect(output.timedOutIn).toBe('"awaitingExit"');
    expect(client.calls.awaitExit[0]!.signal.aborted).toBe(true);
    expect(client.calls.spawnDaemon).toHaveLength(0);
  });
});

describe('client machine: startTimeout', () => {
  it("is the attempt's own budget, from its input (a negative one fires at once)", async () => {
    const short = startClient({ readMetadata: gated(deferred()) }, undefined, { budgetMs: 300 });
    await vi.advanceTimersByTimeAsync(299);
    expect(short.value()).toBe('discovering');
    await vi.advanceTimersByTimeAsync(1);
    expect(short.value()).toBe('failed');
    expect(short.actor.getSnapshot().output!.timedOutIn).toBe('"discovering"');

    const spent = startClient({ readMetadata: gated(deferred()) }, undefined, { budgetMs: -5 });
    await vi.advanceTimersByTimeAsync(0);
    expect(spent.value()).toBe('failed');
  });

  /** Effects that bring the machine to `state` and leave it stuck there on `gate`. */
  function stuckIn(state: string, gate: Deferred<unknown>): Partial<Record<ActorName, Effect>> {
    const hang = gated(gate);
    return {
      readMetadata: state === 'discovering' ? hang : state === 'connecting' ? ok(valid(RUNNING)) : ok(ABSENT),
      connect: stuckActor(state) === 'connect' ? hang : undefined,
      acquireLock: state === 'locking' ? hang : ok(ACQUIRED),
      recheck: state === 'locked.rechecking' ? hang : ok({}),
      cleanStale: state === 'locked.cleaningStale' ? hang : ok(NOTHING_DEAD),
      spawnDaemon: state === 'locked.spawning' ? hang : ok({}),
      awaitReady: state === 'locked.awaitingReady' ? hang : ok(SPAWNED),
    };
  }

  function stuckActor(state: string): ActorName {
    return (
      {
        discovering: 'readMetadata',
        connecting: 'connect',
        locking: 'acquireLock',
        'locked.rechecking': 'recheck',
        'locked.cleaningStale': 'cleanStale',
        'locked.spawning': 'spawnDaemon',
        'locked.awaitingReady': 'awaitReady',
        'locked.connecting': 'connect',
      } as const
    )[state as 'discovering']!;
  }

  function stateValue(state: string): unknown {
    const [parent, child] = state.split('.');
    return child === undefined ? parent : { [parent!]: child };
  }

  const STATES = ['discovering', 'connecting', 'locking', 'locked.rechecking', 'locked.cleaningStale', 'locked.spawning', 'locked.awaitingReady', 'locked.connecting'];

  it.each(STATES)('firing in %s -> failed, naming the state, aborting the invoked actor (covers the root after(startTimeout))', async (state) => {
    const gate = deferred<unknown>();
    const client = startClient(stuckIn(state, gate));
    await settle();
    expect(client.value()).toEqual(stateValue(state));

    await vi.advanceTimersByTimeAsync(START_TIMEOUT - 1);
    expect(client.value()).toEqual(stateValue(state));
    expect(client.releaseLock).not.toHaveBeenCalled();

    await vi.advanceTimersByTimeAsync(1);
    expect(client.status()).toBe('done');
    expect(client.value()).toBe('failed');
    const output = client.actor.getSnapshot().output!;
    expect(output.timedOutIn).toEqual(expect.any(String));
    for (const part of state.split('.')) expect(output.timedOutIn).toContain(part);
    expect(output.error).toBeUndefined();
    expect(output.connection).toBeUndefined();

    const invocations = client.calls[stuckActor(state)];
    expect(invocations.at(-1)!.signal.aborted).toBe(true);
    // Only the lock holder releases it, exactly once.
    expect(client.releaseLock).toHaveBeenCalledTimes(state.startsWith('locked.') ? 1 : 0);

    // A result arriving after the deadline changes nothing.
    gate.resolve(state.endsWith('connecting') ? connection('late') : state === 'locking' ? ACQUIRED : state === 'discovering' ? valid(RUNNING) : SPAWNED);
    await settle();
    expect(client.value()).toBe('failed');
    expect(client.actor.getSnapshot().output!.connection).toBeUndefined();
    expect(client.releaseLock).toHaveBeenCalledTimes(state.startsWith('locked.') ? 1 : 0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('in locked.awaitingReady: timedOutIn names it, the awaitReady signal is aborted, the lock released once', async () => {
    const client = startClient({
      readMetadata: ok(ABSENT),
      acquireLock: ok(ACQUIRED),
      recheck: ok({}),
      cleanStale: ok(NOTHING_DEAD),
      spawnDaemon: ok({ pid: 404 }),
      awaitReady: gated(deferred()),
    });
    await settle();
    expect(client.value()).toEqual({ locked: 'awaitingReady' });
    const { signal } = client.calls.awaitReady[0]!;
    expect(signal.aborted).toBe(false);

    await vi.advanceTimersByTimeAsync(START_TIMEOUT);

    expect(client.value()).toBe('failed');
    expect(client.context().timedOutIn).toContain('awaitingReady');
    expect(JSON.parse(client.context().timedOutIn!)).toEqual({ locked: 'awaitingReady' });
    expect(signal.aborted).toBe(true);
    expect(client.releaseLock).toHaveBeenCalledTimes(1);
    expect(client.calls.connect).toHaveLength(0);
  });

  it('in discovering: failed, no lock to release', async () => {
    const client = startClient({ readMetadata: gated(deferred()) });
    await vi.advanceTimersByTimeAsync(START_TIMEOUT);
    expect(client.value()).toBe('failed');
    expect(JSON.parse(client.context().timedOutIn!)).toBe('discovering');
    expect(client.calls.readMetadata[0]!.signal.aborted).toBe(true);
    expect(client.releaseLock).not.toHaveBeenCalled();
  });

  it('is one budget for the whole attempt: going round discovering -> locking -> discovering does not restart it', async () => {
    const lockGate = deferred<unknown>();
    const client = startClient({
      readMetadata: sequence(ok(ABSENT), gated(deferred())),
      acquireLock: gated(lockGate),
    });
    await settle();
    expect(client.value()).toBe('locking');

    await vi.advanceTimersByTimeAsync(START_TIMEOUT - 100);
    lockGate.resolve(PUBLISHED);
    await settle();
    expect(client.value()).toBe('discovering');
    expect(client.calls.readMetadata).toHaveLength(2);

    await vi.advanceTimersByTimeAsync(100);
    expect(client.value()).toBe('failed');
    expect(JSON.parse(client.context().timedOutIn!)).toBe('discovering');
  });

  it('keeps the trail of what was tried before the deadline', async () => {
    const client = startClient({
      readMetadata: ok(valid(RUNNING)),
      connect: fail(new ConnectionFailedError('refused')),
      acquireLock: gated(deferred()),
    });
    await vi.advanceTimersByTimeAsync(START_TIMEOUT);
    const output = client.actor.getSnapshot().output!;
    expect(JSON.parse(output.timedOutIn!)).toBe('locking');
    expect(output.trail).toEqual([`metadata: pid ${RUNNING.pid}`, 'not usable: refused']);
  });
});

describe("client machine: onMismatch 'replace' and startReason", () => {
  type ReplaceActorName = ActorName | 'replaceDaemon';

  type ReplaceHarness = Harness;

  /** startClient with the machine's input given first. */
  function startWith(input: { replaceOnMismatch: boolean }, effects: Partial<Record<ReplaceActorName, Effect>>): ReplaceHarness {
    return startClient(effects, input);
  }

  const REPLACE = { replaceOnMismatch: true };
  const ERROR = { replaceOnMismatch: false };

  const MISMATCHES = [
    ['a FactoryMismatchError', () => new FactoryMismatchError('another factory')],
    ['a plain object with ERR_FACTORY_MISMATCH', () => ({ code: 'ERR_FACTORY_MISMATCH', message: 'mismatch' })],
  ] as const;

  /** Effects for a running daemon of another factory that gets replaced; `overrides` win. */
  function mismatched(overrides: Partial<Record<ReplaceActorName, Effect>> = {}): Partial<Record<ReplaceActorName, Effect>> {
    return {
      readMetadata: ok(valid(RUNNING)),
      connect: sequence(fail(new FactoryMismatchError('connect: another factory')), ok(connection('replacement'))),
      acquireLock: ok(ACQUIRED),
      recheck: fail(new FactoryMismatchError('recheck: another factory')),
      replaceDaemon: ok(undefined),
      cleanStale: ok(NOTHING_DEAD),
      spawnDaemon: ok({ pid: SPAWNED.pid }),
      awaitReady: ok(SPAWNED),
      ...overrides,
    };
  }

  it.each(MISMATCHES)(
    'with replaceOnMismatch, %s from connecting -> locking, not failed (covers connecting->locking on a replaceable mismatch)',
    async (_label, make) => {
      const client = startWith(REPLACE, { readMetadata: ok(valid(RUNNING)), connect: fail(make()), acquireLock: gated(deferred()) });
      await settle();

      expect(client.status()).toBe('active');
      expect(client.value()).toBe('locking');
      expect(client.path).toEqual([at('discovering'), at('connecting'), at('locking')]);
      expect(client.context().error).toBeUndefined();
      expect(client.context().trail).toEqual([`metadata: pid ${RUNNING.pid}`, 'it runs another factory: replacing it']);
      // The mismatched daemon's record is what acquireLock waits past.
      expect(client.calls.acquireLock).toHaveLength(1);
      expect(client.calls.acquireLock[0]!.input).toBe(RUNNING);
      expect(client.calls.replaceDaemon).toHaveLength(0);
    },
  );

  it.each(MISMATCHES)(
    'recheck failing with %s -> locked.replacing -> replaceDaemon resolves -> cleaningStale -> spawning with startReason "replace" (covers locked.rechecking->replacing->cleaningStale)',
    async (_label, make) => {
      const replaceGate = deferred<unknown>();
      const conn = connection('replacement');
      const client = startWith(
        REPLACE,
        mismatched({ recheck: fail(make()), replaceDaemon: gated(replaceGate), connect: sequence(fail(new FactoryMismatchError('connect')), ok(conn)) }),
      );
      await settle();

      // Draining the old daemon happens under the lock.
      expect(client.value()).toEqual({ locked: 'replacing' });
      expect(client.context().startReason).toBe('replace');
      expect(client.context().error).toBeUndefined();
      expect(client.calls.replaceDaemon).toHaveLength(1);
      expect(client.calls.cleanStale).toHaveLength(0);
      expect(client.calls.spawnDaemon).toHaveLength(0);
      expect(client.releaseLock).not.toHaveBeenCalled();

      replaceGate.resolve(undefined);
      await settle();

      expect(client.value()).toBe('connected');
      expect(client.path).toEqual([
        at('discovering'),
        at('connecting'),
        at('locking'),
        at({ locked: 'rechecking' }),
        at({ locked: 'replacing' }),
        at({ locked: 'cleaningStale' }),
        at({ locked: 'spawning' }),
        at({ locked: 'awaitingReady' }),
        at({ locked: 'connecting' }),
        at('connected'),
      ]);
      expect(client.calls.spawnDaemon).toHaveLength(1);
      expect(client.calls.spawnDaemon[0]!.input).toBe('replace');
      expect(client.log.indexOf('replaceDaemon:done')).toBeLessThan(client.log.indexOf('cleanStale:start'));
      expect(client.calls.connect.map((call) => call.input)).toEqual([RUNNING, SPAWNED]);
      expect(client.releaseLock).toHaveBeenCalledTimes(1);
      expect(client.log.at(-1)).toBe('releaseLock');
      const output = client.actor.getSnapshot().output!;
      expect(output.connection).toBe(conn);
      expect(output.error).toBeUndefined();
      expect(output.trail).toEqual([
        `metadata: pid ${RUNNING.pid}`,
        'it runs another factory: replacing it',
        'the mismatched daemon drained',
        `spawned: pid ${SPAWNED.pid}`,
      ]);
    },
  );

  it('replaceDaemon rejecting -> failed with that error, the lock released once, nothing cleaned or spawned (covers locked.replacing->failed)', async () => {
    const drainError = coded('ERR_DAEMON_CONNECTION', 'the old daemon did not drain');
    const client = startWith(REPLACE, mismatched({ replaceDaemon: fail(drainError) }));
    await settle();

    expect(client.status()).toBe('done');
    expect(client.value()).toBe('failed');
    expect(client.path.slice(-3)).toEqual([at({ locked: 'rechecking' }), at({ locked: 'replacing' }), at('failed')]);
    const output = client.actor.getSnapshot().output!;
    expect(output.error).toBe(drainError);
    expect(output.connection).toBeUndefined();
    expect(output.timedOutIn).toBeUndefined();
    expect(client.releaseLock).toHaveBeenCalledTimes(1);
    expect(client.log.indexOf('releaseLock')).toBeGreaterThan(client.log.indexOf('replaceDaemon:error'));
    expect(client.calls.cleanStale).toHaveLength(0);
    expect(client.calls.spawnDaemon).toHaveLength(0);
    expect(client.calls.connect).toHaveLength(1);
  });

  it('startTimeout firing in locked.replacing -> failed, naming it, aborting replaceDaemon, the lock released once', async () => {
    const client = startWith(REPLACE, mismatched({ replaceDaemon: gated(deferred()) }));
    await settle();
    expect(client.value()).toEqual({ locked: 'replacing' });

    await vi.advanceTimersByTimeAsync(START_TIMEOUT - 1);
    expect(client.value()).toEqual({ locked: 'replacing' });
    await vi.advanceTimersByTimeAsync(1);

    expect(client.value()).toBe('failed');
    expect(JSON.parse(client.context().timedOutIn!)).toEqual({ locked: 'replacing' });
    expect(client.calls.replaceDaemon[0]!.signal.aborted).toBe(true);
    expect(client.releaseLock).toHaveBeenCalledTimes(1);
    expect(client.calls.spawnDaemon).toHaveLength(0);
  });

  it('without replaceOnMismatch the same mismatch is fatal: from connecting -> failed, never locking', async () => {
    const error = new FactoryMismatchError('another factory');
    const client = startWith(ERROR, mismatched({ connect: fail(error) }));
    await settle();

    expect(client.value()).toBe('failed');
    expect(client.path).toEqual([at('discovering'), at('connecting'), at('failed')]);
    expect(client.actor.getSnapshot().output!.error).toBe(error);
    expect(client.calls.acquireLock).toHaveLength(0);
    expect(client.calls.replaceDaemon).toHaveLength(0);
    expect(client.releaseLock).not.toHaveBeenCalled();
  });

  it('without replaceOnMismatch a mismatch under the lock is fatal too: recheck -> failed, nothing replaced', async () => {
    const error = new FactoryMismatchError('another factory');
    const client = startWith(ERROR, mismatched({ readMetadata: ok(ABSENT), recheck: fail(error) }));
    await settle();

    expect(client.value()).toBe('failed');
    expect(client.path).toEqual([at('discovering'), at('locking'), at({ locked: 'rechecking' }), at('failed')]);
    expect(client.actor.getSnapshot().output!.error).toBe(error);
    expect(client.calls.replaceDaemon).toHaveLength(0);
    expect(client.calls.cleanStale).toHaveLength(0);
    expect(client.releaseLock).toHaveBeenCalledTimes(1);
  });

  it.each<[string, () => unknown]>([
    ['ERR_PROTOCOL_VERSION', () => new HandshakeError('protocol 2 vs 1', { code: 'ERR_PROTOCOL_VERSION' })],
    ['ERR_FACTORY', () => new FactoryError('constructor threw')],
  ])('replaceOnMismatch replaces only mismatches: %s stays fatal from connecting and from recheck', async (_code, make) => {
    const fromConnect = make();
    const early = startWith(REPLACE, mismatched({ connect: fail(fromConnect) }));
    await settle();
    expect(early.path).toEqual([at('discovering'), at('connecting'), at('failed')]);
    expect(early.actor.getSnapshot().output!.error).toBe(fromConnect);
    expect(early.calls.acquireLock).toHaveLength(0);

    const fromRecheck = make();
    const late = startWith(REPLACE, mismatched({ readMetadata: ok(ABSENT), recheck: fail(fromRecheck) }));
    await settle();
    expect(late.path.slice(-2)).toEqual([at({ locked: 'rechecking' }), at('failed')]);
    expect(late.actor.getSnapshot().output!.error).toBe(fromRecheck);
    expect(late.calls.replaceDaemon).toHaveLength(0);
    expect(late.releaseLock).toHaveBeenCalledTimes(1);
  });

  it('a mismatch from the freshly spawned daemon is not replaced again: locked.connecting -> failed, one spawn', async () => {
    const second = new FactoryMismatchError('the new daemon mismatches too');
    const client = startWith(REPLACE, mismatched({ connect: sequence(fail(new FactoryMismatchError('old daemon')), fail(second), gated(deferred())) }));
    await settle();

    expect(client.path.slice(-2)).toEqual([at({ locked: 'connecting' }), at('failed')]);
    expect(client.actor.getSnapshot().output!.error).toBe(second);
    expect(client.calls.replaceDaemon).toHaveLength(1);
    expect(client.calls.spawnDaemon).toHaveLength(1);
    expect(client.releaseLock).toHaveBeenCalledTimes(1);
  });

  describe('startReason passed to spawnDaemon', () => {
    const coldPath = {
      acquireLock: ok(ACQUIRED),
      cleanStale: ok(NOTHING_DEAD),
      spawnDaemon: gated(deferred()),
    };

    it.each([REPLACE, ERROR])("'first' when the metadata was absent (%o)", async (input) => {
      const client = startWith(input, { ...coldPath, readMetadata: ok(ABSENT), recheck: ok({ reason: 'metadata absent' }) });
      await settle();
      expect(client.value()).toEqual({ locked: 'spawning' });
      expect(client.calls.spawnDaemon).toHaveLength(1);
      expect(client.calls.spawnDaemon[0]!.input).toBe('first');
    });

    it.each([REPLACE, ERROR])("'restart' when the metadata was malformed (%o)", async (input) => {
      const client = startWith(input, {
        ...coldPath,
        readMetadata: ok({ status: 'malformed', reason: 'not JSON' } satisfies MetadataRead),
        recheck: ok({ reason: 'metadata malformed' }),
      });
      await settle();
      expect(client.value()).toEqual({ locked: 'spawning' });
      expect(client.calls.spawnDaemon[0]!.input).toBe('restart');
    });

    it.each([REPLACE, ERROR])("'restart' when a valid record's daemon could not be connected to (%o)", async (input) => {
      const client = startWith(input, {
        ...coldPath,
        readMetadata: ok(valid(RUNNING)),
        connect: fail(new ConnectionFailedError('connect ECONNREFUSED')),
        recheck: ok({ metadata: RUNNING, reason: `pid ${RUNNING.pid} is not running` }),
      });
      await settle();
      expect(client.value()).toEqual({ locked: 'spawning' });
      expect(client.calls.spawnDaemon[0]!.input).toBe('restart');
    });

    it("'restart' when the metadata was absent but the recheck under the lock failed with a non-fatal error", async () => {
      const client = startWith(ERROR, { ...coldPath, readMetadata: ok(ABSENT), recheck: fail(new ConnectionFailedError('handshake timed out')) });
      await settle();
      expect(client.value()).toEqual({ locked: 'spawning' });
      expect(client.calls.spawnDaemon[0]!.input).toBe('restart');
    });

    it.each([REPLACE, ERROR])("'restart' when cleaning found a dead daemon's remains, though the record was absent (%o)", async (input) => {
      const client = startWith(input, { ...coldPath, readMetadata: ok(ABSENT), recheck: ok({ reason: 'metadata absent' }), cleanStale: ok({ deadFound: true }) });
      await settle();
      expect(client.value()).toEqual({ locked: 'spawning' });
      expect(client.calls.spawnDaemon[0]!.input).toBe('restart');
    });

    it("'restart' when the caller lost its daemon (input `restart`), and 'replace' still wins over it", async () => {
      const lost = startClient({ ...coldPath, readMetadata: ok(ABSENT), recheck: ok({ reason: 'metadata absent' }) }, ERROR, { restart: true });
      await settle();
      expect(lost.calls.spawnDaemon[0]!.input).toBe('restart');
      const replaced = startClient(
        {
          ...coldPath,
          readMetadata: ok(valid(RUNNING)),
          connect: fail(new FactoryMismatchError('another factory')),
          recheck: fail(new FactoryMismatchError('another factory')),
          replaceDaemon: ok(undefined),
        },
        REPLACE,
        { restart: true },
      );
      await settle();
      expect(replaced.calls.spawnDaemon[0]!.input).toBe('replace');
    });

    it("'replace' stays 'replace' when cleaning also finds a dead daemon's remains", async () => {
      const client = startWith(REPLACE, mismatched({ cleanStale: ok({ deadFound: true }), spawnDaemon: gated(deferred()) }));
      await settle();
      expect(client.value()).toEqual({ locked: 'spawning' });
      expect(client.calls.spawnDaemon.map((call) => call.input)).toEqual(['replace']);
    });

    it("a replacement that dies before the handshake is spawned again as 'replace', not 'restart'", async () => {
      const client = startWith(
        REPLACE,
        mismatched({
          connect: sequence(fail(new FactoryMismatchError('connect: another factory')), fail(new ConnectionFailedError('it died')), ok(connection('second'))),
          recheck: sequence(fail(new FactoryMismatchError('recheck: another factory')), ok({ reason: 'metadata absent' })),
        }),
      );
      await settle();
      expect(client.value()).toBe('connected');
      expect(client.calls.spawnDaemon.map((call) => call.input)).toEqual(['replace', 'replace']);
    });

    it("'replace' wins over 'restart': a stale record first, then a mismatched daemon under the lock", async () => {
      const client = startWith(REPLACE, {
        ...coldPath,
        readMetadata: ok(valid(RUNNING)),
        connect: fail(new ConnectionFailedError('connect ECONNREFUSED')),
        recheck: fail(new FactoryMismatchError('another factory was published meanwhile')),
        replaceDaemon: ok(undefined),
      });
      await settle();
      expect(client.value()).toEqual({ locked: 'spawning' });
      expect(client.calls.spawnDaemon[0]!.input).toBe('replace');
    });
  });
});
