/**
 * The mailbox statechart on its own (fake `awaitIdle` and `rejectWaiting` through
 * `provide()`, fake timers), and its per-call admission policy `isAdmissibleMember`.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor, fromPromise, type Actor } from 'xstate';
import { isAdmissibleMember, mailboxMachine } from '../../machines/mailbox.machine.js';
import { deferred, settle, type Deferred } from '../support/machines.js';

interface Harness {
  readonly actor: Actor<typeof mailboxMachine>;
  readonly rejectWaiting: ReturnType<typeof vi.fn>;
  /** Called each time the `awaitIdle` actor starts. */
  readonly awaitIdleStarted: ReturnType<typeof vi.fn>;
  /** Settles the pending `awaitIdle`. */
  readonly idle: Deferred;
  /** The `force` of each `announceClosing`, in order. */
  readonly announced: boolean[];
  value(): unknown;
  status(): string;
}

const actors: Actor<typeof mailboxMachine>[] = [];

function startMailbox(): Harness {
  const rejectWaiting = vi.fn();
  const awaitIdleStarted = vi.fn();
  const idle = deferred();
  const announced: boolean[] = [];
  const machine = mailboxMachine.provide({
    actors: {
      awaitIdle: fromPromise(() => {
        awaitIdleStarted();
        return idle.promise;
      }),
    },
    actions: { rejectWaiting: () => rejectWaiting(), announceClosing: (_, { force }) => announced.push(force) },
  });
  const actor = createActor(machine);
  actors.push(actor);
  actor.start();
  return {
    actor,
    rejectWaiting,
    awaitIdleStarted,
    idle,
    announced,
    value: () => actor.getSnapshot().value,
    status: () => actor.getSnapshot().status,
  };
}

beforeEach(() => {
  vi.useFakeTimers();
});

afterEach(() => {
  for (const actor of actors.splice(0)) actor.stop();
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('mailbox machine', () => {
  it('starts accepting, without waiting for idle', async () => {
    const mailbox = startMailbox();
    await settle();
    expect(mailbox.value()).toBe('accepting');
    expect(mailbox.status()).toBe('active');
    expect(mailbox.awaitIdleStarted).not.toHaveBeenCalled();
  });

  it('graceful close: accepting -> draining, then closed (done) once awaitIdle resolves', async () => {
    const mailbox = startMailbox();
    mailbox.actor.send({ type: 'mailbox.close', force: false });
    expect(mailbox.value()).toBe('draining');
    await settle();
    expect(mailbox.awaitIdleStarted).toHaveBeenCalledTimes(1);

    // Draining lasts as long as the admitted calls do, however long that is.
    await vi.advanceTimersByTimeAsync(60_000);
    expect(mailbox.value()).toBe('draining');
    expect(mailbox.status()).toBe('active');

    mailbox.idle.resolve();
    await settle();
    expect(mailbox.value()).toBe('closed');
    expect(mailbox.status()).toBe('done');
    expect(mailbox.rejectWaiting).not.toHaveBeenCalled();
    expect(mailbox.announced).toEqual([false]);
  });

  it('forced close from accepting -> closed at once, rejecting waiting calls once', async () => {
    const mailbox = startMailbox();
    mailbox.actor.send({ type: 'mailbox.close', force: true });
    expect(mailbox.value()).toBe('closed');
    expect(mailbox.status()).toBe('done');
    expect(mailbox.rejectWaiting).toHaveBeenCalledTimes(1);
    expect(mailbox.announced).toEqual([true]);
    await settle();
    expect(mailbox.awaitIdleStarted).not.toHaveBeenCalled();
  });

  it('forced close during draining -> closed, rejecting waiting calls once', async () => {
    const mailbox = startMailbox();
    mailbox.actor.send({ type: 'mailbox.close', force: false });
    await settle();
    expect(mailbox.value()).toBe('draining');

    mailbox.actor.send({ type: 'mailbox.close', force: true });
    expect(mailbox.value()).toBe('closed');
    expect(mailbox.status()).toBe('done');
    expect(mailbox.rejectWaiting).toHaveBeenCalledTimes(1);

    // The abandoned awaitIdle finishing later changes nothing.
    mailbox.idle.resolve();
    await settle();
    expect(mailbox.value()).toBe('closed');
    expect(mailbox.rejectWaiting).toHaveBeenCalledTimes(1);
  });

  it('graceful close during draining does nothing', async () => {
    const mailbox = startMailbox();
    mailbox.actor.send({ type: 'mailbox.close', force: false });
    await settle();

    mailbox.actor.send({ type: 'mailbox.close', force: false });
    await settle();
    expect(mailbox.value()).toBe('draining');
    expect(mailbox.rejectWaiting).not.toHaveBeenCalled();
    // Still the first wait: not restarted.
    expect(mailbox.awaitIdleStarted).toHaveBeenCalledTimes(1);

    mailbox.idle.resolve();
    await settle();
    expect(mailbox.value()).toBe('closed');
  });

  it('ignores close requests once closed', async () => {
    // xstate warns (development build) about events sent to a finished actor; keep the output clean.
    vi.spyOn(console, 'warn').mockImplementation(() => {});
    const mailbox = startMailbox();
    mailbox.actor.send({ type: 'mailbox.close', force: true });
    mailbox.actor.send({ type: 'mailbox.close', force: true });
    mailbox.actor.send({ type: 'mailbox.close', force: false });
    await settle();
    expect(mailbox.value()).toBe('closed');
    expect(mailbox.rejectWaiting).toHaveBeenCalledTimes(1);
    expect(mailbox.awaitIdleStarted).not.toHaveBeenCalled();
  });
});

describe('isAdmissibleMember', () => {
  let getterReads = 0;
  const sym = Symbol('method');

  class Base {
    inherited(): string {
      return 'inherited';
    }
    shadowed(): string {
      return 'base';
    }
  }

  class Service extends Base {
    // Own fields, set per instance.
    arrow = (): string => 'arrow';
    count = 3;
    label = 'text';
    // A field with a method's name but not a function: the own data property decides.
    override shadowed = 42 as unknown as () => string;
    [sym](): string {
      return 'symbol';
    }
    method(): string {
      return 'method';
    }
    async later(): Promise<string> {
      return 'later';
    }
    _private(): string {
      return 'private';
    }
    get trap(): () => string {
      getterReads++;
      throw new Error('the getter must never be invoked');
    }
    // Overrides of names that are refused whatever the object defines.
    override toString(): string {
      return 'service';
    }
    // biome-ignore lint/suspicious/noThenProperty: a `then` member the mailbox must refuse to expose, on purpose.
    then(): void {}
    '': () => string = () => 'empty';
    '1' = (): string => 'one';
    undefined = (): string => 'undefined';
  }

  // A getter defined directly on the instance too, not only on the prototype.
  function makeService(): Service {
    const service = new Service();
    Object.defineProperty(service, 'ownTrap', {
      enumerable: true,
      get() {
        getterReads++;
        throw new Error('the own getter must never be invoked');
      },
    });
    return service;
  }

  /** What factory functions usually return: a plain object with methods over a closure. */
  function createCounter() {
    let n = 0;
    return {
      increment(): number {
        return ++n;
      },
      value: 0,
      _reset(): void {
        n = 0;
      },
      hasOwnProperty: (): boolean => true,
      // biome-ignore lint/suspicious/noThenProperty: a `then` member the mailbox must refuse to expose, on purpose.
      then(): void {},
      constructor: (): string => 'not a constructor',
    };
  }

  function createBare(): Record<string, unknown> {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.ping = (): string => 'pong';
    bare.toString = (): string => 'bare';
    bare.data = 'x';
    return bare;
  }

  const service = makeService();
  const counter = createCounter();
  const bare = createBare();

  beforeEach(() => {
    getterReads = 0;
  });

  afterEach(() => {
    expect(getterReads).toBe(0);
  });

  const admitted: ReadonlyArray<[string, object, string, unknown]> = [
    ['prototype method', service, 'method', Service.prototype.method],
    ['inherited method', service, 'inherited', Base.prototype.inherited],
    ['async method', service, 'later', Service.prototype.later],
    ['own arrow-function field', service, 'arrow', service.arrow],
    ['method of a factory-made plain object', counter, 'increment', counter.increment],
    ['method of an Object.create(null) object', bare, 'ping', bare.ping],
  ];

  it.each(admitted)('admits a %s (%s.%s)', (_label, target, name, expected) => {
    const method = isAdmissibleMember(target, name);
    expect(typeof method).toBe('function');
    expect(method).toBe(expected);
  });

  it('returns methods that work when applied to their object', async () => {
    expect(isAdmissibleMember(service, 'method')!.apply(service, [])).toBe('method');
    expect(isAdmissibleMember(service, 'inherited')!.apply(service, [])).toBe('inherited');
    expect(await isAdmissibleMember(service, 'later')!.apply(service, [])).toBe('later');
    expect(isAdmissibleMember(counter, 'increment')!.apply(counter, [])).toBe(1);
    expect(isAdmissibleMember(bare, 'ping')!.apply(bare, [])).toBe('pong');
  });

  const refused: ReadonlyArray<[string, object, unknown]> = [
    ['getter on the prototype (throws if invoked)', service, 'trap'],
    ['getter on the instance (throws if invoked)', service, 'ownTrap'],
    ['non-function field', service, 'count'],
    ['string field', service, 'label'],
    ['own non-function shadowing an inherited method', service, 'shadowed'],
    ['_private method', service, '_private'],
    ['constructor', service, 'constructor'],
    ['overridden toString', service, 'toString'],
    ['__proto__', service, '__proto__'],
    ['hasOwnProperty', service, 'hasOwnProperty'],
    ['valueOf', service, 'valueOf'],
    ['then (thenable trap)', service, 'then'],
    ['unknown name', service, 'missing'],
    ["'' (even when defined)", service, ''],
    ['number name (even when "1" is defined)', service, 1],
    ['undefined name (even when "undefined" is defined)', service, undefined],
    ['symbol name (even when that symbol is a method)', service, sym],
    ['null name', service, null],
    ['factory object: non-function field', counter, 'value'],
    ['factory object: _private method', counter, '_reset'],
    ['factory object: own hasOwnProperty function', counter, 'hasOwnProperty'],
    ['factory object: own then method', counter, 'then'],
    ['factory object: own constructor function', counter, 'constructor'],
    ['factory object: __proto__', counter, '__proto__'],
    ['Object.create(null): own toString', bare, 'toString'],
    ['Object.create(null): data field', bare, 'data'],
    ['Object.create(null): unknown name', bare, 'missing'],
    ['Object.create(null): hasOwnProperty', bare, 'hasOwnProperty'],
  ];

  it.each(refused)('refuses %s', (_label, target, name) => {
    expect(() => isAdmissibleMember(target, name)).not.toThrow();
    expect(isAdmissibleMember(target, name)).toBeUndefined();
  });

  it('never admits a member added to Object.prototype after load (prototype pollution)', () => {
    Object.defineProperty(Object.prototype, 'polluted', { value: () => 'pwned', configurable: true, writable: true });
    try {
      expect(isAdmissibleMember(service, 'polluted')).toBeUndefined();
      expect(isAdmissibleMember(counter, 'polluted')).toBeUndefined();
    } finally {
      delete (Object.prototype as Record<string, unknown>).polluted;
    }
  });

  it('a proxy whose member vanishes between the look and the read is refused, without a throw', () => {
    let looks = 0;
    const fickle = new Proxy(
      {},
      {
        // Present for hasOwn, gone when the descriptor is read.
        getOwnPropertyDescriptor: () => (++looks === 1 ? { value: () => 'once', configurable: true, writable: true, enumerable: true } : undefined),
      },
    );
    expect(isAdmissibleMember(fickle, 'method')).toBeUndefined();
    expect(looks).toBe(2);
  });
});
