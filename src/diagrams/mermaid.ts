/**
 * Renders an xstate v5 machine as a Mermaid `stateDiagram-v2`, by walking its StateNode
 * tree (never its config), so what is drawn is what xstate itself resolved: targets,
 * delays, invoke ids and guards.
 *
 * Drawing rules, chosen for Mermaid's quirks:
 * - A state's Mermaid id is its key, unless that key is not a plain identifier, is used by
 *   more than one state, or is a Mermaid keyword; then it gets a path-based id and is
 *   declared as `state "key" as id`. (Mermaid ids are global to a diagram.)
 * - An arrow between two children of the same (non-parallel) compound state is written
 *   inside that state's block; every other arrow is written at the top level. Mermaid
 *   re-parents a state into whichever block mentions it, so a cross-level arrow inside a
 *   block would move its target there.
 * - A transition without a target (actions only) is drawn as a loop on its state.
 * - A machine whose root has transitions of its own (or is parallel) is drawn as one outer
 *   composite state, so those arrows have a box to start from.
 */
import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';

/** One arrow as it will be written. */
interface Arrow {
  readonly from: AnyStateNode;
  readonly to: AnyStateNode;
  readonly label: string;
}

const INDENT = '  ';
const PLAIN_ID = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Words Mermaid's state-diagram lexer takes as keywords (or, for `root`, swallows). */
const RESERVED = new Set(['state', 'note', 'class', 'classdef', 'scale', 'default', 'root']);

/**
 * Renders `machine` as a Mermaid `stateDiagram-v2`. Deterministic: states and transitions
 * appear in the order xstate holds them (their declaration order); the text ends with a
 * newline.
 *
 * Events are labelled with their type; delayed transitions as `after <delay>`, invoke
 * results as `done: <invokeId>` / `error: <invokeId>`, a compound state's own completion
 * as `done`, guards as `[guardName]`. Eventless (`always`) transitions carry only their
 * guard. Actions are not drawn.
 *
 * @example
 * ```ts
 * import { daemonMachine } from '../../machines/daemon.machine.js';
 * writeFileSync('daemon.mmd', toMermaid(daemonMachine));
 * ```
 */
export function toMermaid(machine: AnyStateMachine): string {
  const root = machine.root;
  const ids = assignIds(root);
  const id = (node: AnyStateNode): string => ids.get(node)!;
  const topLevel: string[] = [];
  const body: string[] = [];

  // Arrows that stay inside their parent's block, keyed by that parent; the rest go last.
  const local = new Map<AnyStateNode, Arrow[]>();
  for (const node of allNodes(root)) {
    for (const arrow of arrowsFrom(node)) {
      const parent = arrow.from.parent;
      if (parent !== undefined && parent === arrow.to.parent && parent.type !== 'parallel') {
        local.set(parent, [...(local.get(parent) ?? []), arrow]);
      } else {
        topLevel.push(arrowLine(arrow, id));
      }
    }
  }

  // Mermaid only splits regions (`--`) inside a block, so a parallel root needs one too.
  const wrapRoot = root.type === 'parallel' || arrowsFrom(root).length > 0;
  if (wrapRoot) {
    body.push(`[*] --> ${id(root)}`, ...declaration(root, ids, local));
  } else {
    body.push(...contents(root, ids, local));
  }
  return ['stateDiagram-v2', ...[...body, ...topLevel].map((line) => INDENT + line)].join('\n') + '\n';
}

/** The lines declaring `node` in its parent's block ([] when its arrows already name it). */
function declaration(node: AnyStateNode, ids: Map<AnyStateNode, string>, local: Map<AnyStateNode, Arrow[]>): string[] {
  const id = ids.get(node)!;
  if (node.type === 'history') {
    return [`state "${node.history === 'deep' ? 'H*' : 'H'}" as ${id}`];
  }
  const head = id === node.key ? `state ${id}` : `state "${quoteSafe(node.key)}" as ${id}`;
  if (node.type === 'compound' || node.type === 'parallel') {
    return [`${head} {`, ...contents(node, ids, local).map((line) => INDENT + line), '}'];
  }
  return id === node.key ? [] : [head];
}

/** The inside of a compound or parallel state's block (or of the whole diagram). */
function contents(node: AnyStateNode, ids: Map<AnyStateNode, string>, local: Map<AnyStateNode, Arrow[]>): string[] {
  const id = (n: AnyStateNode): string => ids.get(n)!;
  const children = Object.values(node.states) as AnyStateNode[];
  const arrows = local.get(node) ?? [];
  const mentioned = new Set<AnyStateNode>(arrows.flatMap((arrow) => [arrow.from, arrow.to]));
  const lines: string[] = [];

  for (const initial of node.type === 'parallel' ? [] : (node.initial?.target ?? [])) {
    lines.push(`[*] --> ${id(initial)}`);
    mentioned.add(initial);
  }
  children.forEach((child, index) => {
    if (node.type === 'parallel' && index > 0) lines.push('--');
    const declared = declaration(child, ids, local);
    // A plain state no line names would not exist in Mermaid: name it on its own.
    if (declared.length === 0 && !mentioned.has(child) && child.type !== 'final') lines.push(id(child));
    lines.push(...declared);
    for (const arrow of arrows) if (arrow.from === child) lines.push(arrowLine(arrow, id));
    if (child.type === 'final') lines.push(`${id(child)} --> [*]`);
  });
  return lines;
}

/** Every transition leaving `node`, one arrow per target, in xstate's order. */
function arrowsFrom(node: AnyStateNode): Arrow[] {
  const definitions: AnyTransitionDefinition[] = [
    ...[...node.transitions.values()].flat(),
    ...((node.always ?? []) as AnyTransitionDefinition[]),
  ];
  return definitions.flatMap((transition) => {
    const label = [trigger(transition), guardLabel(transition.guard)].filter((part) => part !== '').join(' ');
    const targets = transition.target === undefined || transition.target.length === 0 ? [node] : transition.target;
    return targets.map((to) => ({ from: node, to, label: labelSafe(label) }));
  });
}

function arrowLine(arrow: Arrow, id: (node: AnyStateNode) => string): string {
  const line = `${id(arrow.from)} --> ${id(arrow.to)}`;
  return arrow.label === '' ? line : `${line} : ${arrow.label}`;
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

/** `[name]` for a guard: its name, a combination of names, or `inline`. */
function guardLabel(guard: unknown): string {
  return guard === undefined ? '' : `[${guardName(guard)}]`;
}

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
  // `x_start`/`x_end` are the names Mermaid gives the `[*]` pseudo-states of block `x`.
  return PLAIN_ID.test(id) && !RESERVED.has(id.toLowerCase()) && !/_(start|end)$/.test(id);
}

/** A unique Mermaid id per node: its key when that is safe and unique, else its path. */
function assignIds(root: AnyStateNode): Map<AnyStateNode, string> {
  const nodes = allNodes(root);
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

/** Mermaid state labels are double-quoted and cannot contain a double quote. */
function quoteSafe(text: string): string {
  return text.replace(/"/g, "'").replace(/\s+/g, ' ');
}

/** A transition label ends at the first `;` or newline in Mermaid. */
function labelSafe(text: string): string {
  return text.replace(/;/g, ',').replace(/\s+/g, ' ').trim();
}
