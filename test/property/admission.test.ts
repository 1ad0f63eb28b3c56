/**
 * Property: the mailbox admits a member name (isAdmissibleMember) only when it names a
 * public method of the hosted object, checked against an oracle written here from a model
 * of the object rather than by reflecting on it. Objects are random prototype chains (plain,
 * class-built, null-based or a function), with methods of every kind, data properties,
 * getters that throw or count their calls, setters, shadowing between layers, and names that
 * look private or collide with what every object has (__proto__, constructor, toString, then).
 *
 * The policy (machines/mailbox.machine.ts): a name is admitted when it is a non-empty string,
 * does not start with `_`, is not `constructor`, `then` or a member of Object.prototype, and
 * the nearest object on the prototype chain (stopping before Object.prototype) that has it as
 * an own property has it as a data property holding a function. Getters are never invoked.
 *
 * Knobs: FC_RUNS=N multiplies the number of runs (default sized for CI); FC_SEED=S
 * (and FC_PATH=P) replays a failure that fast-check reported. See test/property/support.ts.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isAdmissibleMember } from '../../machines/mailbox.machine.js';
import { DANGEROUS_NAMES, params, timeout } from './support.js';

/** Object.prototype's members, written out (not read from the runtime: this is the oracle). */
const OBJECT_PROTOTYPE_NAMES = [
  '__defineGetter__',
  '__defineSetter__',
  '__lookupGetter__',
  '__lookupSetter__',
  '__proto__',
  'constructor',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  'toString',
  'valueOf',
];

/** Names the oracle refuses whatever the object holds. */
const NEVER = new Set([...OBJECT_PROTOTYPE_NAMES, 'constructor', 'then']);

const FUNCTION_KINDS = ['method', 'arrow', 'async', 'generator', 'asyncGenerator', 'class', 'bound', 'proxyFunction'] as const;
const DATA_KINDS = ['number', 'string', 'null', 'undefined', 'object', 'array'] as const;
const ACCESSOR_KINDS = ['getter', 'throwingGetter', 'functionGetter', 'setter', 'accessorPair'] as const;
type Kind = (typeof FUNCTION_KINDS)[number] | (typeof DATA_KINDS)[number] | (typeof ACCESSOR_KINDS)[number];
const isFunctionKind = (kind: Kind): boolean => (FUNCTION_KINDS as readonly string[]).includes(kind);

interface Member {
  readonly name: string;
  readonly kind: Kind;
  readonly enumerable: boolean;
  readonly writable: boolean;
}

/**
 * A hosted object: `layers[0]` is the object's own members, `layers[1..]` its prototypes,
 * nearest first, then the base: Object.prototype ('object'; with `viaClass` the chain is
 * built with `class extends`), nothing ('null'), or Function.prototype ('function': the
 * hosted object is itself a function). `proxied` wraps it in a Proxy whose get/has/ownKeys
 * traps throw, so any read that could invoke a getter shows.
 */
interface Model {
  readonly layers: readonly (readonly Member[])[];
  readonly base: 'object' | 'null' | 'function';
  readonly viaClass: boolean;
  readonly proxied: boolean;
}

/** Own members of a strict-mode `function () {}`, and of Function.prototype, as the oracle sees them. */
const FUNCTION_OWN: readonly Member[] = ['length', 'name', 'prototype'].map((name) => ({ name, kind: 'object', enumerable: false, writable: false }));
const FUNCTION_PROTOTYPE: readonly Member[] = [
  ...['apply', 'bind', 'call', 'toString', 'constructor'].map((name) => ({ name, kind: 'method' as const, enumerable: false, writable: true })),
  ...['length', 'name'].map((name) => ({ name, kind: 'number' as const, enumerable: false, writable: false })),
  ...['arguments', 'caller'].map((name) => ({ name, kind: 'throwingGetter' as const, enumerable: false, writable: false })),
];

const POOL = [
  ...DANGEROUS_NAMES,
  ...OBJECT_PROTOTYPE_NAMES,
  'a',
  'b',
  'get',
  'set',
  'run',
  'value',
  'inc',
  'ping',
  '$',
  '#x',
  'arguments',
  'caller',
  'prototype',
  'length',
  'name',
  'apply',
  'call',
  'bind',
  '0',
  'then_',
  'x_',
];
const name = fc.oneof(
  { arbitrary: fc.constantFrom(...POOL), weight: 6 },
  { arbitrary: fc.string({ maxLength: 6 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 4 }), weight: 1 },
);

const member: fc.Arbitrary<Member> = fc.record(
  {
    name,
    kind: fc.constantFrom<Kind>(...FUNCTION_KINDS, ...DATA_KINDS, ...ACCESSOR_KINDS),
    enumerable: fc.boolean(),
    writable: fc.boolean(),
  },
  { noNullPrototype: true },
);

const model: fc.Arbitrary<Model> = fc
  .record(
    {
      layers: fc.array(fc.uniqueArray(member, { selector: (m) => m.name, maxLength: 6 }), { minLength: 1, maxLength: 4 }),
      base: fc.constantFrom<Model['base']>('object', 'object', 'null', 'function'),
      viaClass: fc.boolean(),
      proxied: fc.boolean(),
    },
    { noNullPrototype: true },
  )
  .map((m) => ({
    ...m,
    viaClass: m.viaClass && m.base === 'object',
    // A function's own length/name/prototype are not configurable: the model leaves them be.
    layers: m.base === 'function' ? m.layers.map((layer, i) => (i === 0 ? layer.filter((x) => !['length', 'name', 'prototype'].includes(x.name)) : layer)) : m.layers,
  }));

/** Names to ask about that are not strings (the wire guarantees a string; the policy must not rely on it). */
const notAString = fc.oneof(
  fc.integer(),
  fc.constantFrom(null, undefined, true, Symbol('inc'), Symbol.iterator),
  fc.constantFrom(...POOL).map((n) => ({ toString: () => n })),
  fc.constantFrom(...POOL).map((n) => [n]),
);

interface Built {
  readonly target: object;
  /** The function each member holds, by layer and name (for the oracle's expected result). */
  readonly functions: Map<string, unknown>;
  readonly getterCalls: { count: number };
}

function makeFunction(kind: Kind, label: string): (...args: unknown[]) => unknown {
  switch (kind) {
    case 'method':
      return {
        [label]() {
          return label;
        },
      }[label]!;
    case 'arrow':
      return () => label;
    case 'async':
      return async () => label;
    case 'generator':
      return function* () {
        yield label;
      };
    case 'asyncGenerator':
      return async function* () {
        yield label;
      };
    case 'class':
      return class {
        readonly label = label;
      } as unknown as (...args: unknown[]) => unknown;
    case 'bound':
      return function (this: unknown) {
        return [this, label];
      }.bind(null);
    case 'proxyFunction':
      return new Proxy(() => label, {});
    default:
      throw new Error(`not a function kind: ${kind}`);
  }
}

function define(o: object, m: Member, layer: number, built: Built): void {
  const base = { enumerable: m.enumerable, configurable: true };
  if (isFunctionKind(m.kind)) {
    const fn = makeFunction(m.kind, `${layer}:${m.name}`);
    built.functions.set(`${layer}\0${m.name}`, fn);
    Object.defineProperty(o, m.name, { ...base, writable: m.writable, value: fn });
    return;
  }
  const count = () => void built.getterCalls.count++;
  switch (m.kind) {
    case 'number':
      return void Object.defineProperty(o, m.name, { ...base, writable: m.writable, value: 42 });
    case 'string':
      return void Object.defineProperty(o, m.name, { ...base, writable: m.writable, value: 'not a method' });
    case 'null':
      return void Object.defineProperty(o, m.name, { ...base, writable: m.writable, value: null });
    case 'undefined':
      return void Object.defineProperty(o, m.name, { ...base, writable: m.writable, value: undefined });
    case 'object':
      return void Object.defineProperty(o, m.name, { ...base, writable: m.writable, value: { call() {} } });
    case 'array':
      return void Object.defineProperty(o, m.name, { ...base, writable: m.writable, value: [() => 1] });
    case 'getter':
      return void Object.defineProperty(o, m.name, {
        ...base,
        get: () => {
          count();
          return 1;
        },
      });
    case 'throwingGetter':
      return void Object.defineProperty(o, m.name, {
        ...base,
        get: () => {
          count();
          throw new Error('a getter was invoked');
        },
      });
    case 'functionGetter':
      return void Object.defineProperty(o, m.name, {
        ...base,
        get: () => {
          count();
          return () => 'from a getter';
        },
      });
    case 'setter':
      return void Object.defineProperty(o, m.name, { ...base, set: () => count() });
    case 'accessorPair':
      return void Object.defineProperty(o, m.name, {
        ...base,
        get: () => {
          count();
          return () => 1;
        },
        set: () => count(),
      });
  }
}

function build(m: Model): Built {
  const built: Built = { target: {}, functions: new Map(), getterCalls: { count: 0 } };
  const deepest = m.layers.length - 1;
  let target: object;
  if (m.viaClass) {
    // layers[deepest..1] become a class hierarchy's prototypes; layers[0] the instance's own.
    let Class: new () => object = class {};
    for (let i = deepest; i >= 1; i--) {
      if (i < deepest) Class = class extends Class {};
      for (const x of m.layers[i]!) define(Class.prototype, x, i, built);
    }
    target = new Class();
  } else {
    let proto: object | null = m.base === 'null' ? null : m.base === 'function' ? Function.prototype : Object.prototype;
    for (let i = deepest; i >= 1; i--) {
      const layer = Object.create(proto) as object;
      for (const x of m.layers[i]!) define(layer, x, i, built);
      proto = layer;
    }
    if (m.base === 'function') {
      // biome-ignore lint/complexity/useArrowFunction: the model's `function` base is a plain function on purpose: unlike an arrow it is constructible and has an own `prototype`.
      target = function () {};
      Object.setPrototypeOf(target, proto);
    } else {
      target = Object.create(proto) as object;
    }
  }
  for (const x of m.layers[0]!) define(target, x, 0, built);
  if (m.proxied) {
    const refuse = (): never => {
      throw new Error('the admission check read the object through a trap that can run user code');
    };
    target = new Proxy(target, { get: refuse, has: refuse, ownKeys: refuse, set: refuse, apply: refuse });
  }
  return { ...built, target };
}

/** What the policy says, from the model alone. */
function oracle(m: Model, requested: unknown, built: Built): unknown {
  if (typeof requested !== 'string') return undefined;
  if (requested === '' || requested.startsWith('_') || NEVER.has(requested)) return undefined;
  const chain: (readonly Member[])[] = m.layers.map((layer, i) => (i === 0 && m.base === 'function' ? [...layer, ...FUNCTION_OWN] : layer));
  if (m.base === 'function') chain.push(FUNCTION_PROTOTYPE);
  for (let i = 0; i < chain.length; i++) {
    const found = chain[i]!.find((x) => x.name === requested);
    if (found === undefined) continue;
    if (!isFunctionKind(found.kind)) return undefined;
    return i < m.layers.length ? built.functions.get(`${i}\0${requested}`) : (Function.prototype as unknown as Record<string, unknown>)[requested];
  }
  return undefined; // Object.prototype (all of it refused by name) or the end of the chain
}

describe('property: the mailbox admits only public methods', () => {
  it('the oracle knows every member of Object.prototype in this runtime', () => {
    expect([...OBJECT_PROTOTYPE_NAMES].sort()).toEqual(Object.getOwnPropertyNames(Object.prototype).sort());
  });

  it(
    'isAdmissibleMember agrees with the oracle on random objects and names, and never runs a getter',
    () => {
      fc.assert(
        fc.property(model, fc.array(fc.oneof({ arbitrary: name, weight: 5 }, { arbitrary: notAString, weight: 1 }), { maxLength: 12 }), (m, extra) => {
          const built = build(m);
          // Every name the object defines, plus random and dangerous ones.
          const asked: unknown[] = [...new Set(m.layers.flat().map((x) => x.name)), ...extra, ...DANGEROUS_NAMES];
          for (const requested of asked) {
            let admitted: unknown;
            try {
              admitted = isAdmissibleMember(built.target, requested);
            } catch (error) {
              expect.fail(`isAdmissibleMember threw for ${String(requested)}: ${(error as Error).message}`);
            }
            const expected = oracle(m, requested, built);
            if (admitted !== expected) {
              expect.fail(
                `name ${JSON.stringify(typeof requested === 'string' ? requested : String(requested))}: admitted ${typeof admitted === 'function' ? `a function (${admitted.name || 'anonymous'})` : String(admitted)}, expected ${typeof expected === 'function' ? `the function ${expected.name || '(anonymous)'}` : 'a refusal'}`,
              );
            }
          }
          expect(built.getterCalls.count, 'getters invoked').toBe(0);
        }),
        params(500),
      );
    },
    timeout(30_000),
  );
});
