/**
 * The one walk over an xstate v5 machine that every diagram format draws from: it flattens
 * the StateNode tree (never the config, so what is drawn is what xstate itself resolved:
 * targets, delays, invoke ids and guards) into states and labelled transitions. The
 * renderers (mermaid.ts, dot.ts) only decide how to write them down.
 *
 * Labelling conventions, shared by every format: an event is labelled with its type; a
 * delayed transition `after <delay>`; an invoke result `done: <invokeId>` /
 * `error: <invokeId>`; a compound state's own completion `done`; a guard `[guardName]`
 * after the event. An eventless (`always`) transition carries only its guard. Actions are
 * not part of the model.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

/** What kind of box a state is drawn as. */
export type ChartStateKind = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

/** One state of the machine, the root included. */
export interface ChartState {
  /**
   * Unique within the chart and a plain identifier (`[A-Za-z_][A-Za-z0-9_]*`): the state's
   * key when that is unique and safe, else a path-based id. The same in every format.
   */
  readonly id: string;
  /** The state's key in its parent (the machine id for the root): what a diagram shows. */
  readonly key: string;
  readonly kind: ChartStateKind;
  /** For a history state: `H` (shallow) or `H*` (deep). */
  readonly historyLabel: string | undefined;
  readonly parent: ChartState | undefined;
  /** Child states in declaration order. */
  readonly children: readonly ChartState[];
  /** Where the state's initial transition leads ([] for atomic, final and parallel states). */
  readonly initial: readonly ChartState[];
}

/** One transition to one target (a transition with several targets is several of these). */
export interface ChartTransition {
  readonly from: ChartState;
  /** The target; `from` itself for a targetless transition. */
  readonly to: ChartState;
  /** `job.requested`, `after idleTtl`, `done: fetch`, `error: fetch`, `done`, or '' (eventless). */
  readonly event: string;
  /** `[guardName]`, or '' without a guard. */
  readonly guard: string;
  /** `event` and `guard` joined by a space, whitespace collapsed. */
  readonly label: string;
  /** True for a transition without a target: handled in `from` without leaving it. */
  readonly targetless: boolean;
}

/** A machine flattened for drawing. */
export interface Chart {
  readonly root: ChartState;
  /** Every state, root first, depth-first in declaration order. */
  readonly states: readonly ChartState[];
  /** Every transition, grouped by source state in `states` order, each in xstate's order. */
  readonly transitions: readonly ChartTransition[];
}

const PLAIN_ID = /^[A-Za-z_][A-Za-z0-9_]*$/;
/**
 * Keys that never become ids as they are: words Mermaid's state-diagram lexer takes as
 * keywords (or, for `root`, swallows), and `x_start`/`x_end`, the names Mermaid gives the
 * `[*]` pseudo-states of block `x`. DOT quotes every id and has no such trouble.
 */
const RESERVED = new Set(['state', 'note', 'class', 'classdef', 'scale', 'default', 'root']);

/**
 * Flattens `machine` into its states and labelled transitions. Deterministic: states and
 * transitions come in the order xstate holds them (their declaration order).
 *
 * @example
 * ```ts
 * const chart = flattenMachine(daemonMachine);
 * for (const t of chart.transitions) console.log(`${t.from.id} -> ${t.to.id}: ${t.label}`);
 * ```
 */
export function flattenMachine(machine: AnyStateMachine): Chart {
  const nodes = allNodes(machine.root);
  const ids = assignIds(nodes);
  const byNode = new Map<AnyStateNode, ChartState>();

  const build = (node: AnyStateNode, parent: ChartState | undefined): ChartState => {
    const state = {
      id: ids.get(node)!,
      key: node.key,
      kind: node.type as ChartStateKind,
      historyLabel: node.type === 'history' ? (node.history === 'deep' ? 'H*' : 'H') : undefined,
      parent,
      children: [] as ChartState[],
      initial: [] as ChartState[],
    };
    byNode.set(node, state);
    for (const child of Object.values(node.states) as AnyStateNode[]) state.children.push(build(child, state));
    return state;
  };
  const root = build(machine.root, undefined);

  const states = nodes.map((node) => byNode.get(node)!);
  for (const node of nodes) {
    if (node.type !== 'compound') continue;
    const initial = byNode.get(node)!.initial as ChartState[];
    for (const target of node.initial?.target ?? []) initial.push(byNode.get(target)!);
  }

  const transitions = nodes.flatMap((node) => transitionsFrom(node, byNode));
  return { root, states, transitions };
}

/** True when `state` is `ancestor` or lies inside it. */
export function isWithin(state: ChartState, ancestor: ChartState): boolean {
  for (let s: ChartState | undefined = state; s !== undefined; s = s.parent) if (s === ancestor) return true;
  return false;
}

/** Every transition leaving `node`, one per target, in xstate's order. */
function transitionsFrom(node: AnyStateNode, byNode: Map<AnyStateNode, ChartState>): ChartTransition[] {
  const from = byNode.get(node)!;
  const definitions: AnyTransitionDefinition[] = [...[...node.transitions.values()].flat(), ...((node.always ?? []) as AnyTransitionDefinition[])];
  return definitions.flatMap((transition) => {
    const event = trigger(transition);
    const guard = transition.guard === undefined ? '' : `[${guardName(transition.guard)}]`;
    const label = [event, guard]
      .filter((part) => part !== '')
      .join(' ')
      .replace(/\s+/g, ' ')
      .trim();
    const targetless = transition.target === undefined || transition.target.length === 0;
    const targets = targetless ? [from] : transition.target!.map((target) => byNode.get(target)!);
    return targets.map((to) => ({ from, to, event, guard, label, targetless }));
  });
}

const AFTER = 'xstate.after.';
const DONE_ACTOR = 'xstate.done.actor.';
const ERROR_ACTOR = 'xstate.error.actor.';
const DONE_STATE = 'xstate.done.state.';

/** The readable event part of a transition's label ('' for an eventless one). */
function trigger(transition: AnyTransitionDefinition): string {
  const type = String(transition.eventType);
  const delay = (transition as { delay?: unknown }).delay;
  if (type.startsWith(AFTER) && delay !== undefined) {
    if (typeof delay === 'number') return `after ${delay}ms`;
    if (typeof delay === 'function') return `after ${delay.name === '' ? 'delay' : delay.name}`;
    return `after ${String(delay)}`;
  }
  if (type.startsWith(DONE_ACTOR)) return `done: ${type.slice(DONE_ACTOR.length)}`;
  if (type.startsWith(ERROR_ACTOR)) return `error: ${type.slice(ERROR_ACTOR.length)}`;
  if (type.startsWith(DONE_STATE)) return 'done';
  return type;
}

/** A guard's name, a combination of names, or `inline`. */
function guardName(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    // xstate's and()/or()/not()/stateIn() return functions carrying their operands.
    const combinator = guard as { guards?: unknown[]; stateValue?: unknown; check?: unknown };
    if (typeof combinator.check === 'function') {
      if (guard.name === 'stateIn') {
        const value = combinator.stateValue;
        return `in ${typeof value === 'string' ? value : JSON.stringify(value)}`;
      }
      const operands = (combinator.guards ?? []).map((operand) => {
        const text = guardName(operand);
        return typeof operand === 'function' && (operand.name === 'and' || operand.name === 'or') ? `(${text})` : text;
      });
      if (guard.name === 'not') return `!${operands[0] ?? ''}`;
      if (guard.name === 'and') return operands.join(' && ');
      if (guard.name === 'or') return operands.join(' || ');
    }
    // `guard: () => ...` is named after the property; that name says nothing.
    return guard.name === '' || guard.name === 'guard' ? 'inline' : guard.name;
  }
  if (typeof guard === 'object' && guard !== null && typeof (guard as { type?: unknown }).type === 'string') {
    return (guard as { type: string }).type;
  }
  return 'inline';
}

/** Every state node, root first, depth-first in declaration order. */
function allNodes(root: AnyStateNode): AnyStateNode[] {
  return [root, ...(Object.values(root.states) as AnyStateNode[]).flatMap(allNodes)];
}

function isUsableId(id: string): boolean {
  return PLAIN_ID.test(id) && !RESERVED.has(id.toLowerCase()) && !/_(start|end)$/.test(id);
}

/** A unique id per node: its key when that is safe and unique, else its path. */
function assignIds(nodes: readonly AnyStateNode[]): Map<AnyStateNode, string> {
  const keyCount = new Map<string, number>();
  for (const node of nodes) keyCount.set(node.key, (keyCount.get(node.key) ?? 0) + 1);

  const ids = new Map<AnyStateNode, string>();
  const used = new Set<string>();
  for (const node of nodes) {
    if (node.type !== 'history' && keyCount.get(node.key) === 1 && isUsableId(node.key)) {
      ids.set(node, node.key);
      used.add(node.key);
    }
  }
  for (const node of nodes) {
    if (ids.has(node)) continue;
    let base = (node.path.length === 0 ? node.key : node.path.join('_')).replace(/[^A-Za-z0-9_]/g, '_');
    if (!isUsableId(base)) base = `s_${base}_`;
    let candidate = base;
    for (let n = 2; used.has(candidate); n++) candidate = `${base}_${n}`;
    ids.set(node, candidate);
    used.add(candidate);
  }
  return ids;
}
