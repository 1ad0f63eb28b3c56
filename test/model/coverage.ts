/**
 * Model-based testing plumbing shared by the *.paths.ts files and coverage.test.ts:
 *
 * - {@link transitionsOf}: every state and every transition of a machine, read from its
 *   definition (`machine.root` and its StateNodes), so coverage cannot drift from the charts.
 * - {@link exercisedBy}: which of those states and transitions a set of generated paths takes,
 *   found by replaying each step through the machine and recording the transitions xstate
 *   itself selects (its `@xstate.microstep` inspection events), eventless ones included; a
 *   state counts as reached when a snapshot is in it or a taken transition leaves or enters it
 *   (a transient state, left by `always` in the same macrostep, is never in a snapshot).
 * - {@link modelOf} / {@link coveringPaths}: @xstate/graph's TestModel over the machine, and
 *   shortest paths plus just the simple paths needed to take every transition.
 *
 * Why `new TestModel(...)` and not `createTestModel(...)`: in @xstate/graph 3.0.4,
 * createTestModel() refuses any machine with `invoke` or `after` ("Invocations/After events on
 * test machines are not supported"), and every machine of ours has both. The TestModel below
 * gets exactly the options createTestModel would give it (state serialisation that tells
 * transitions apart, `#id` / state-value matching), over the very machine object.
 */
import { serializeSnapshot, TestModel, type TestPath } from '@xstate/graph';
import { __unsafe_getAllOwnEventDescriptors, createEmptyActor, type AnyMachineSnapshot, type AnyStateMachine, type AnyStateNode, type EventObject } from 'xstate';

/** One state of a machine: its id (`daemon.serving.idle`) and its path (`serving.idle`). */
export interface StateInfo {
  readonly id: string;
  readonly path: string;
}

/** One transition of a machine's definition. */
export interface TransitionInfo {
  /** `<source id> --<event>[ [guard]]--> <target ids | (internal)>`, unique per machine. */
  readonly key: string;
  /** Source state id. */
  readonly source: string;
  /** The event type; `always` for eventless transitions. */
  readonly event: string;
  /** Target state ids; empty for an internal (targetless) transition. */
  readonly targets: readonly string[];
  readonly guard: string | undefined;
}

/** A transition a path cannot take against real processes, and why. */
export interface Exclusion {
  /** A {@link TransitionInfo.key}. */
  readonly transition: string;
  readonly reason: string;
}

/** An event as an event generator offers it: a type and its payload. */
export type ModelEvent = EventObject & { readonly [payload: string]: unknown };

/** A generated path (what `TestModel.getShortestPaths()` returns). */
export type ModelPath = TestPath<AnyMachineSnapshot, EventObject>;

// TransitionDefinition objects are created once per machine (StateNode._initialize), so they
// can be recognised by identity when xstate reports them during a replay.
const keyOf = new WeakMap<object, string>();
/** The source and targets of each definition, by key: a transient (`always`) state is entered only inside a macrostep. */
const endsOf = new Map<string, readonly string[]>();

function guardName(guard: unknown): string | undefined {
  if (guard === undefined) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') return guard.name || 'inline';
  if (typeof guard === 'object' && guard !== null && typeof (guard as { type?: unknown }).type === 'string') return (guard as { type: string }).type;
  return 'guard';
}

function allNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...Object.values(node.states as Record<string, AnyStateNode>).flatMap(allNodes)];
}

/**
 * Every state (root excluded) and every transition of `machine`, from its definition: for
 * each StateNode, its `on` events, `after` delays (`xstate.after.<delay>.<id>`), invoke
 * `onDone`/`onError` (`xstate.done.actor.<id>` / `xstate.error.actor.<id>`) — all of which
 * xstate keeps in the node's `transitions` map — and its `always` transitions.
 * Initial transitions are not listed: reaching a state is counted by the states.
 */
export function transitionsOf(machine: AnyStateMachine): { states: StateInfo[]; transitions: TransitionInfo[] } {
  const nodes = allNodes(machine.root);
  const states = nodes.filter((node) => node !== machine.root).map((node) => ({ id: node.id, path: node.path.join('.') }));
  const transitions: TransitionInfo[] = [];
  const seen = new Set<string>();
  for (const node of nodes) {
    const definitions = [...[...(node.transitions as Map<string, object[]>).values()].flat(), ...((node.always as object[] | undefined) ?? [])] as Array<{
      eventType: string;
      target?: readonly AnyStateNode[];
      guard?: unknown;
    }>;
    for (const definition of definitions) {
      const event = definition.eventType === '' ? 'always' : definition.eventType;
      const targets = (definition.target ?? []).map((target) => target.id);
      const guard = guardName(definition.guard);
      let key = `${node.id} --${event}${guard ? ` [${guard}]` : ''}--> ${targets.length ? targets.join(', ') : '(internal)'}`;
      for (let n = 2; seen.has(key); n++) key = `${key} #${n}`;
      seen.add(key);
      keyOf.set(definition, key);
      endsOf.set(key, [node.id, ...targets]);
      transitions.push({ key, source: node.id, event, targets, guard });
    }
  }
  return { states, transitions };
}

type ActorScope = Parameters<AnyStateMachine['transition']>[2];

/**
 * How many microsteps one event (or the start) may take before the replay calls it a loop. Our
 * charts take at most a handful; a chart whose eventless transitions chase each other (a
 * mutant's `always` guard that never turns false) would otherwise take microsteps until the
 * process runs out of memory, xstate keeping every one of them.
 */
export const MAX_MICROSTEPS = 1000;

/**
 * An actor scope for computing transitions outside an actor: `self.getSnapshot()` answers the
 * snapshot being transitioned (as it does inside a running actor), the microsteps xstate
 * takes are reported to `onMicrostep`, and more than {@link MAX_MICROSTEPS} of them throw.
 * One scope per transition.
 */
function replayScope(current: () => AnyMachineSnapshot | undefined, onMicrostep?: (transitions: readonly object[]) => void): ActorScope {
  const empty = createEmptyActor();
  let microsteps = 0;
  const system = Object.create(empty.system, {
    _sendInspectionEvent: {
      value: (event: { type: string; event?: EventObject; _transitions?: readonly object[] }) => {
        if (event.type !== '@xstate.microstep') return;
        if (++microsteps > MAX_MICROSTEPS) {
          throw new Error(
            `more than ${MAX_MICROSTEPS} microsteps for one event (${event.event?.type ?? 'the start'}) from ${JSON.stringify(current()?.value ?? null)}: eventless transitions that loop`,
          );
        }
        onMicrostep?.(event._transitions ?? []);
      },
    },
  });
  const self = Object.create(empty, { getSnapshot: { value: current }, system: { value: system } });
  return {
    self,
    system,
    id: '',
    sessionId: 'model',
    logger: () => {},
    defer: () => {},
    emit: () => {},
    stopChild: () => {},
    actionExecutor: () => {},
  } as unknown as ActorScope;
}

/**
 * The machine as @xstate/graph traverses it. Its `transition` runs the machine's own, but
 * with a scope whose `self.getSnapshot()` is the snapshot being transitioned (the graph's mock
 * scope has an empty actor as `self`, and the daemon's `recordBootTimeout` action reads
 * `self.getSnapshot()` to name the boot step that hung) and whose system bounds the microsteps
 * (as its start does). Everything else (the definition, the StateNodes, the transitions) is the
 * machine's own, through the prototype.
 */
export function traversable<TMachine extends AnyStateMachine>(machine: TMachine): TMachine {
  return Object.create(machine, {
    transition: {
      value: (snapshot: AnyMachineSnapshot, event: EventObject, scope: ActorScope) => {
        const { self, system } = replayScope(() => snapshot);
        return machine.transition(snapshot, event, { ...scope, self, system } as ActorScope);
      },
    },
    getInitialSnapshot: {
      value: (scope: ActorScope, input: unknown) => {
        const { self, system } = replayScope(() => undefined);
        return machine.getInitialSnapshot({ ...scope, self, system } as ActorScope, input);
      },
    },
  }) as TMachine;
}

/**
 * How many snapshots a traversal may visit. Ours visit a few hundred at most; a chart whose
 * context grows on every event (so no snapshot is ever seen twice) would be traversed for good.
 */
export const MAX_TRAVERSED = 20_000;

function serializeMachineTransition(snapshot: AnyMachineSnapshot, event: EventObject | undefined, previous: AnyMachineSnapshot | undefined): string {
  // As @xstate/graph's createTestModel does: a state reached by another transition is another vertex.
  if (!event || (previous && JSON.stringify(previous.value) === JSON.stringify(snapshot.value))) return '';
  return ` via ${JSON.stringify(event)}${previous ? ` from ${JSON.stringify(previous.value)}` : ''}`;
}

/**
 * A TestModel of `machine` whose traversal offers, in each snapshot, the events `events`
 * returns. Each must be one the snapshot's state nodes handle (checked), so an event
 * generator can narrow and parameterise what the chart accepts but never invent events.
 */
export function modelOf(machine: AnyStateMachine, events: (snapshot: AnyMachineSnapshot) => ModelEvent[]): TestModel<AnyMachineSnapshot, EventObject, unknown> {
  return new TestModel(traversable(machine), {
    limit: MAX_TRAVERSED,
    serializeState: (snapshot: AnyMachineSnapshot, event: EventObject | undefined, previous?: AnyMachineSnapshot) =>
      `${serializeSnapshot(snapshot)}${serializeMachineTransition(snapshot, event, previous)}`,
    stateMatcher: (snapshot: AnyMachineSnapshot, key: string) =>
      key.startsWith('#') ? snapshot._nodes.includes(machine.getStateNodeById(key)) : snapshot.matches(key as never),
    events: (snapshot: AnyMachineSnapshot) => {
      if (snapshot.status !== 'active') return [];
      const handled = new Set(__unsafe_getAllOwnEventDescriptors(snapshot));
      const offered = events(snapshot);
      for (const event of offered) {
        if (!handled.has(event.type)) throw new Error(`event generator offers "${event.type}" in ${JSON.stringify(snapshot.value)}, which does not handle it`);
      }
      return offered;
    },
  } as never);
}

/** The states and transitions `paths` take, as ids and {@link TransitionInfo.key}s. */
export function exercisedBy(machine: AnyStateMachine, paths: readonly ModelPath[]): { states: Set<string>; transitions: Set<string> } {
  transitionsOf(machine); // registers the keys
  const states = new Set<string>();
  const transitions = new Set<string>();
  const record = (taken: readonly object[]) => {
    for (const definition of taken) {
      const key = keyOf.get(definition);
      if (key === undefined) continue;
      transitions.add(key);
      // A state a taken transition left or entered was reached, if only within a macrostep.
      for (const id of endsOf.get(key) ?? []) if (id !== machine.root.id) states.add(id);
    }
  };
  for (const path of paths) {
    // The initial macrostep may take eventless transitions too.
    machine.getInitialSnapshot(replayScope(() => undefined, record));
    path.steps.forEach((step, i) => {
      for (const node of step.state._nodes as AnyStateNode[]) if (node !== machine.root) states.add(node.id);
      if (i === 0) return;
      const previous = path.steps[i - 1]!.state;
      machine.transition(
        previous,
        step.event,
        replayScope(() => previous, record),
      );
    });
    for (const node of path.state._nodes as AnyStateNode[]) if (node !== machine.root) states.add(node.id);
  }
  return { states, transitions };
}

/**
 * Shortest paths, plus, for each transition they miss (and `excluded` does not list), the
 * shortest simple path that takes it. Deduplicated: no path is a prefix of another.
 */
export function coveringPaths(machine: AnyStateMachine, model: TestModel<AnyMachineSnapshot, EventObject, unknown>, excluded: readonly Exclusion[]): ModelPath[] {
  const paths = model.getShortestPaths();
  const skip = new Set(excluded.map((exclusion) => exclusion.transition));
  const covered = exercisedBy(machine, paths).transitions;
  const missing = transitionsOf(machine).transitions.filter((t) => !covered.has(t.key) && !skip.has(t.key));
  if (missing.length === 0) return paths;
  const simple = [...model.getSimplePaths()].sort((a, b) => a.steps.length - b.steps.length);
  for (const transition of missing) {
    if (exercisedBy(machine, paths).transitions.has(transition.key)) continue;
    const extra = simple.find((path) => exercisedBy(machine, [path]).transitions.has(transition.key));
    if (extra) paths.push(extra);
  }
  return paths;
}

/** A path's events, for test names: `shutdown.requested(force) → xstate.done.actor.drain`. */
export function describePath(path: ModelPath): string {
  const events = path.steps.slice(1).map((step) => {
    const { type, ...payload } = step.event as EventObject & Record<string, unknown>;
    const shown = Object.entries(payload)
      .map(([name, value]) => (typeof value === 'boolean' ? `${name}: ${value}` : typeof value === 'string' ? value : name))
      .join(', ');
    return shown ? `${type}(${shown})` : type;
  });
  return `${events.join(' → ') || '(start)'} ⇒ ${JSON.stringify(path.state.value)}`;
}
