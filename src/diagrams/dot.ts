/**
 * Renders an xstate v5 machine as Graphviz DOT, from the states and transitions
 * statechart.ts walks out of its StateNode tree (the same walk, ids and labels as the
 * Mermaid files). svg.ts lays the DOT out with Graphviz.
 *
 * Drawing rules:
 * - An atomic state is a rounded box; a final state has a double border; a history state
 *   is a circle with `H` or `H*`.
 * - A compound or parallel state is a cluster (a parallel state's regions are dashed
 *   clusters inside it). Its name is a bold heading node inside the cluster, which is also
 *   where its own arrows start and end: an arrow to or from outside the cluster is clipped
 *   at the cluster's border (`lhead`/`ltail`), one into its own children starts at the name.
 * - Each compound state's initial state is entered from a small black dot.
 * - A transition without a target (actions only) is a loop on its state, as in Mermaid;
 *   on a compound state it is listed under the state's name instead (a cluster has no loops).
 * - Labels follow statechart.ts (`event [guard]`, `after <delay>`, `done: <id>`,
 *   `error: <id>`). Transitions with the same source and target share one arrow, one label
 *   line each. An arrow of `error:` transitions only is red, one of timeouts only dashed.
 * - A machine whose root has transitions of its own (or is parallel) is drawn as one outer
 *   cluster, as in Mermaid.
 * - Every state below the root carries its path in the SVG: `id="state:serving.idle"` on its
 *   box (or a cluster's heading) and `id="cluster:serving"` on a cluster, so that a page can
 *   mark the states an actor is in (the inspector does).
 */
import type { AnyStateMachine } from 'xstate';
import { flattenMachine, isWithin, type ChartState, type ChartTransition } from './statechart.js';

const INDENT = '  ';
const FONT = 'Helvetica,Arial,sans-serif';
const INK = '#2d3748';
const ERROR_INK = '#b42318';

const TEXT = `fontname="${FONT}", fontcolor="${INK}"`;

/**
 * Graph-wide defaults: top-down (the README column is narrow), `compound` for arrows clipped
 * at cluster borders, sans-serif text, soft fills.
 */
const DEFAULTS = [
  `graph [rankdir=TB, compound=true, newrank=true, nodesep=0.4, ranksep=0.45, pad=0.2, bgcolor="white", ${TEXT}, fontsize=12];`,
  `node [shape=box, style="rounded,filled", fillcolor="#edf2f7", color="${INK}", ${TEXT}, fontsize=12, height=0.4, margin="0.14,0.06"];`,
  `edge [color="${INK}", ${TEXT}, fontsize=10, arrowsize=0.7];`,
];

/**
 * Renders `machine` as a DOT `digraph`. Deterministic: states and transitions appear in the
 * order xstate holds them; the text ends with a newline.
 *
 * @example
 * ```ts
 * import { daemonMachine } from '../../machines/daemon.machine.js';
 * const svg = await renderSvg(toDot(daemonMachine));
 * ```
 */
export function toDot(machine: AnyStateMachine): string {
  const { root, transitions } = flattenMachine(machine);
  // A cluster cannot carry a loop: what a compound state handles without leaving it is
  // listed under its name instead.
  const listed = transitions.filter((arrow) => arrow.targetless && isCluster(arrow.from));
  const drawn = transitions.filter((arrow) => !listed.includes(arrow));
  const internal = (state: ChartState): ChartTransition[] => listed.filter((arrow) => arrow.from === state);

  const wrapRoot = root.kind === 'parallel' || transitions.some((arrow) => arrow.from === root);
  const body = wrapRoot ? stateLines(root, false, internal) : contents(root, false, internal);
  const lines = [`digraph ${quote(root.key)} {`, ...[...DEFAULTS, ...body, ...bundle(drawn).map(edgeLine)].map((line) => INDENT + line), '}'];
  return `${lines.join('\n')}\n`;
}

type Internal = (state: ChartState) => readonly ChartTransition[];

/** True for a state drawn as a cluster. */
function isCluster(state: ChartState): boolean {
  return state.kind === 'compound' || state.kind === 'parallel';
}

/** The DOT node for `state` itself: the state's box, or the heading inside its cluster. */
function nodeId(state: ChartState): string {
  return quote(state.id);
}

function clusterId(state: ChartState): string {
  return quote(`cluster_${state.id}`);
}

function initialId(state: ChartState): string {
  return quote(`${state.id}:initial`);
}

/** The state's path below the root, dot-separated as in a state value (`serving.idle`); '' for the root. */
export function statePath(state: ChartState): string {
  const keys: string[] = [];
  for (let at: ChartState | undefined = state; at?.parent !== undefined; at = at.parent) keys.unshift(at.key);
  return keys.join('.');
}

/** ` id="<kind>:<path>"` as a DOT attribute (after a comma), or nothing for the root. */
function svgId(kind: 'state' | 'cluster', state: ChartState): string {
  return state.parent === undefined ? '' : `, id=${quote(`${kind}:${statePath(state)}`)}`;
}

/** A cluster's heading: bare text, no box of its own. */
const HEADING = 'shape=plaintext, style="", height=0.3, margin=0';

/** The lines drawing `state` (and, for a cluster, everything inside it). */
function stateLines(state: ChartState, region: boolean, internal: Internal): string[] {
  switch (state.kind) {
    case 'atomic':
      return [`${nodeId(state)} [label=${quote(state.key)}${svgId('state', state)}];`];
    case 'final':
      return [`${nodeId(state)} [label=${quote(state.key)}, peripheries=2${svgId('state', state)}];`];
    case 'history':
      return [`${nodeId(state)} [label=${quote(state.historyLabel ?? 'H')}, shape=circle, width=0.4, fixedsize=true${svgId('state', state)}];`];
    default:
      return [
        `subgraph ${clusterId(state)} {`,
        ...[
          `graph [label="", style="rounded${region ? ',dashed' : ''}", color="${INK}", penwidth=1.2, margin=10${svgId('cluster', state)}];`,
          `${nodeId(state)} [label=${heading(state, internal(state))}, ${HEADING}${svgId('state', state)}];`,
          ...contents(state, true, internal),
        ].map((line) => INDENT + line),
        '}',
      ];
  }
}

/** A cluster's name in bold, and under a rule the events it handles without leaving it. */
function heading(state: ChartState, internal: readonly ChartTransition[]): string {
  const name = `<b>${html(state.key)}</b>`;
  if (internal.length === 0) return `<${name}>`;
  const rows = internal.map((arrow) => {
    const text = html(arrow.label === '' ? '(eventless)' : arrow.label);
    return `<tr><td align="left"><font point-size="10">${text}</font></td></tr>`;
  });
  const table = '<table border="0" cellborder="0" cellspacing="0" cellpadding="1">';
  return `<${table}<tr><td>${name}</td></tr><hr/>${rows.join('')}</table>>`;
}

/**
 * The inside of a cluster, or of the whole graph for a root drawn without one: the initial
 * dot, the children, and invisible edges that keep the heading (when there is one) on top.
 */
function contents(state: ChartState, heading: boolean, internal: Internal): string[] {
  const lines: string[] = [];
  if (state.initial.length > 0) {
    lines.push(`${initialId(state)} [label="", shape=point, width=0.12, style=filled, fillcolor="${INK}"];`);
  }
  // Children first, so each node is declared in its own cluster before an edge names it.
  for (const child of state.children) lines.push(...stateLines(child, state.kind === 'parallel', internal));
  if (heading) {
    const below = state.initial.length > 0 ? [initialId(state)] : state.children.map(nodeId);
    for (const id of below) lines.push(`${nodeId(state)} -> ${id} [style=invis];`);
  }
  for (const target of state.initial) lines.push(`${initialId(state)} -> ${nodeId(target)}${headClip(state, target)};`);
  return lines;
}

/** ` [lhead=...]` when an arrow from `from` into `to` should stop at `to`'s cluster border. */
function headClip(from: ChartState, to: ChartState): string {
  return isCluster(to) && !isWithin(from, to) ? ` [lhead=${clusterId(to)}]` : '';
}

/** Transitions with the same source and target, drawn as one arrow. */
type Bundle = readonly [ChartTransition, ...ChartTransition[]];

/** Groups `arrows` by source and target, in order of first appearance. */
function bundle(arrows: readonly ChartTransition[]): Bundle[] {
  const bundles = new Map<string, ChartTransition[]>();
  for (const arrow of arrows) {
    const key = `${arrow.from.id} ${arrow.to.id}`;
    bundles.set(key, [...(bundles.get(key) ?? []), arrow]);
  }
  return [...bundles.values()] as unknown as Bundle[];
}

/** One arrow, labelled with one line per transition it stands for. */
function edgeLine(arrows: Bundle): string {
  const { from, to } = arrows[0];
  const attributes: string[] = [];
  const label = arrows
    .map((arrow) => arrow.label)
    .filter((line) => line !== '')
    // A space either side: Graphviz sizes labels by its own font metrics, browsers by theirs.
    .map((line) => ` ${line} `)
    .join('\n');
  if (label !== '') attributes.push(`label=${quote(label)}`);
  if (isCluster(from) && !isWithin(to, from)) attributes.push(`ltail=${clusterId(from)}`);
  if (isCluster(to) && !isWithin(from, to)) attributes.push(`lhead=${clusterId(to)}`);
  if (arrows.every((arrow) => arrow.event.startsWith('error:'))) {
    attributes.push(`color="${ERROR_INK}"`, `fontcolor="${ERROR_INK}"`);
  }
  if (arrows.every((arrow) => arrow.event.startsWith('after '))) attributes.push('style=dashed');
  const line = `${nodeId(from)} -> ${nodeId(to)}`;
  return attributes.length === 0 ? `${line};` : `${line} [${attributes.join(', ')}];`;
}

/** A DOT double-quoted string: `"`, `\` and line breaks escaped. */
function quote(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\r?\n/g, '\\n')}"`;
}

/** Text for a DOT HTML-like label. */
function html(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
