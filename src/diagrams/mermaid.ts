/**
 * Renders an xstate v5 machine as a Mermaid `stateDiagram-v2`, from the states and
 * transitions statechart.ts walks out of its StateNode tree.
 *
 * Drawing rules, chosen for Mermaid's quirks:
 * - A state's Mermaid id is its chart id: its key, unless that key is not a plain
 *   identifier, is used by more than one state, or is a Mermaid keyword; then a path-based
 *   id, declared as `state "key" as id`. (Mermaid ids are global to a diagram.)
 * - An arrow between two children of the same (non-parallel) compound state is written
 *   inside that state's block; every other arrow is written at the top level. Mermaid
 *   re-parents a state into whichever block mentions it, so a cross-level arrow inside a
 *   block would move its target there.
 * - A transition without a target (actions only) is drawn as a loop on its state.
 * - A machine whose root has transitions of its own (or is parallel) is drawn as one outer
 *   composite state, so those arrows have a box to start from.
 */
import type { AnyStateMachine } from 'xstate';
import { flattenMachine, type ChartState, type ChartTransition } from './statechart.js';

const INDENT = '  ';

/**
 * Renders `machine` as a Mermaid `stateDiagram-v2`. Deterministic: states and transitions
 * appear in the order xstate holds them (their declaration order); the text ends with a
 * newline.
 *
 * Labels follow statechart.ts: events by type, delayed transitions as `after <delay>`,
 * invoke results as `done: <invokeId>` / `error: <invokeId>`, a compound state's own
 * completion as `done`, guards as `[guardName]`. Eventless (`always`) transitions carry only
 * their guard. Actions are not drawn.
 *
 * @example
 * ```ts
 * import { daemonMachine } from '../../machines/daemon.machine.js';
 * writeFileSync('daemon.mmd', toMermaid(daemonMachine));
 * ```
 */
export function toMermaid(machine: AnyStateMachine): string {
  const { root, transitions } = flattenMachine(machine);
  const topLevel: string[] = [];
  const body: string[] = [];

  // Arrows that stay inside their parent's block, keyed by that parent; the rest go last.
  const local = new Map<ChartState, ChartTransition[]>();
  for (const arrow of transitions) {
    const parent = arrow.from.parent;
    if (parent !== undefined && parent === arrow.to.parent && parent.kind !== 'parallel') {
      local.set(parent, [...(local.get(parent) ?? []), arrow]);
    } else {
      topLevel.push(arrowLine(arrow));
    }
  }

  // Mermaid only splits regions (`--`) inside a block, so a parallel root needs one too.
  const wrapRoot = root.kind === 'parallel' || transitions.some((arrow) => arrow.from === root);
  if (wrapRoot) {
    body.push(`[*] --> ${root.id}`, ...declaration(root, local));
  } else {
    body.push(...contents(root, local));
  }
  const lines = ['stateDiagram-v2', ...[...body, ...topLevel].map((line) => INDENT + line)];
  return `${lines.join('\n')}\n`;
}

/** The lines declaring `state` in its parent's block ([] when its arrows already name it). */
function declaration(state: ChartState, local: Map<ChartState, ChartTransition[]>): string[] {
  const id = state.id;
  if (state.kind === 'history') return [`state "${state.historyLabel}" as ${id}`];
  const head = id === state.key ? `state ${id}` : `state "${quoteSafe(state.key)}" as ${id}`;
  if (state.kind === 'compound' || state.kind === 'parallel') {
    return [`${head} {`, ...contents(state, local).map((line) => INDENT + line), '}'];
  }
  return id === state.key ? [] : [head];
}

/** The inside of a compound or parallel state's block (or of the whole diagram). */
function contents(state: ChartState, local: Map<ChartState, ChartTransition[]>): string[] {
  const arrows = local.get(state) ?? [];
  const mentioned = new Set<ChartState>(arrows.flatMap((arrow) => [arrow.from, arrow.to]));
  const lines: string[] = [];

  for (const initial of state.initial) {
    lines.push(`[*] --> ${initial.id}`);
    mentioned.add(initial);
  }
  state.children.forEach((child, index) => {
    if (state.kind === 'parallel' && index > 0) lines.push('--');
    const declared = declaration(child, local);
    // A plain state no line names would not exist in Mermaid: name it on its own.
    if (declared.length === 0 && !mentioned.has(child) && child.kind !== 'final') lines.push(child.id);
    lines.push(...declared);
    for (const arrow of arrows) if (arrow.from === child) lines.push(arrowLine(arrow));
    if (child.kind === 'final') lines.push(`${child.id} --> [*]`);
  });
  return lines;
}

function arrowLine(arrow: ChartTransition): string {
  const line = `${arrow.from.id} --> ${arrow.to.id}`;
  const label = labelSafe(arrow.label);
  return label === '' ? line : `${line} : ${label}`;
}

/** Mermaid state labels are double-quoted and cannot contain a double quote. */
function quoteSafe(text: string): string {
  return text.replace(/"/g, "'").replace(/\s+/g, ' ');
}

/** A transition label ends at the first `;` or newline in Mermaid. */
function labelSafe(text: string): string {
  return text.replace(/;/g, ',').replace(/\s+/g, ' ').trim();
}
