/**
 * diagrams/ must match machines/: regenerated in memory (Mermaid and SVG) and compared with
 * the files on disk. Plus the Mermaid and DOT renderers themselves, on small inline machines,
 * and the rule that Graphviz's WebAssembly is loaded only when an SVG is rendered.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { and, fromPromise, not, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import { statePath, toDot } from '../src/diagrams/dot.js';
import { DIAGRAM_SOURCES, renderDiagrams } from '../src/diagrams/generate.js';
import { toMermaid } from '../src/diagrams/mermaid.js';
import { flattenMachine } from '../src/diagrams/statechart.js';
import { renderSvg } from '../src/diagrams/svg.js';

const diagramsDir = fileURLToPath(new URL('../diagrams/', import.meta.url));
const rendered = await renderDiagrams();

describe('diagrams/ is up to date with machines/', () => {
  it.each([...rendered.keys()])('diagrams/%s', (file) => {
    const path = `${diagramsDir}${file}`;
    const committed = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (committed === undefined) {
      expect.fail(`diagrams/${file} is missing: run \`npm run diagrams\` and commit the result`);
    }
    expect(committed, `diagrams/${file} is stale: run \`npm run diagrams\` and commit the result`).toBe(rendered.get(file));
  });

  it('renders an .mmd and an .svg for every listed machine', () => {
    for (const { name } of DIAGRAM_SOURCES) {
      expect(rendered.has(`${name}.mmd`)).toBe(true);
      expect(rendered.has(`${name}.svg`)).toBe(true);
    }
  });

  it('holds no .mmd or .svg file that is no longer generated', () => {
    const orphans = readdirSync(diagramsDir).filter((file) => (file.endsWith('.mmd') || file.endsWith('.svg')) && !rendered.has(file));
    expect(orphans, 'delete these, or run `npm run diagrams` after restoring their machine').toEqual([]);
  });

  it('draws every listed machine, and the README embeds each one and says how it is made', () => {
    const readme = rendered.get('README.md')!;
    expect(readme).toContain('`npm run diagrams`');
    expect(readme).toContain('Do not edit these files by hand');
    for (const { name, machine } of DIAGRAM_SOURCES) {
      expect(rendered.get(`${name}.mmd`)).toContain(toMermaid(machine).split('\n').slice(1).join('\n'));
      const mermaidBlock = ['```mermaid', toMermaid(machine).trimEnd(), '```'].join('\n');
      expect(readme).toContain(mermaidBlock);
      // The SVG is shown as an image, right above the Mermaid source it matches.
      expect(readme).toContain(`![The ${name} statechart](${name}.svg)\n\n${mermaidBlock}`);
    }
  });

  it('writes SVGs with the generated-file notice and nothing that varies between Graphviz builds', () => {
    for (const { name } of DIAGRAM_SOURCES) {
      const svg = rendered.get(`${name}.svg`)!;
      expect(svg.startsWith('<?xml')).toBe(true);
      expect(existsSync(fileURLToPath(new URL(`../machines/${name}.machine.ts`, import.meta.url))), `machines/${name}.machine.ts`).toBe(true);
      expect(svg).toContain(`<!-- Generated from machines/${name}.machine.ts by \`npm run diagrams\`. Do not edit by hand. -->`);
      expect(svg).toMatch(/<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      expect(svg).not.toMatch(/graphviz version/i);
      expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    }
  });
});

/** A machine with one of each thing the renderer draws. */
const tiny = setup({
  actors: { fetchJob: fromPromise(async () => 'job') },
  guards: { isValid: () => true },
  delays: { patience: 1000 },
}).createMachine({
  id: 'tiny',
  initial: 'waiting',
  states: {
    waiting: {
      on: { 'job.requested': 'working' },
      after: { patience: 'gaveUp' },
    },
    working: {
      initial: 'fetching',
      states: {
        fetching: {
          invoke: { id: 'fetch', src: 'fetchJob', onDone: 'checking', onError: '#tiny.gaveUp' },
        },
        checking: {
          always: [{ guard: 'isValid', target: '#tiny.done' }, { target: 'fetching' }],
        },
      },
    },
    gaveUp: { type: 'final' },
    done: { type: 'final' },
  },
});

describe('toMermaid', () => {
  const text = toMermaid(tiny);
  const lines = text.split('\n');

  it('draws the whole machine, nested states as composite states, cross-level arrows at the top level', () => {
    expect(text).toBe(
      [
        'stateDiagram-v2',
        '  [*] --> waiting',
        '  waiting --> working : job.requested',
        '  waiting --> gaveUp : after patience',
        '  state working {',
        '    [*] --> fetching',
        '    fetching --> checking : done: fetch',
        '    checking --> fetching',
        '  }',
        '  gaveUp --> [*]',
        '  done --> [*]',
        '  fetching --> gaveUp : error: fetch',
        '  checking --> done : [isValid]',
        '',
      ].join('\n'),
    );
  });

  it('labels events by type, delays as `after`, invoke results by invoke id, guards in brackets', () => {
    expect(lines).toContain('  waiting --> working : job.requested');
    expect(lines).toContain('  waiting --> gaveUp : after patience');
    expect(lines).toContain('    fetching --> checking : done: fetch');
    expect(lines).toContain('  fetching --> gaveUp : error: fetch');
    expect(lines).toContain('  checking --> done : [isValid]');
    expect(lines).toContain('    checking --> fetching');
    expect(text).not.toMatch(/xstate\./);
  });

  it('starts each compound state at its initial state and ends final states', () => {
    expect(lines).toContain('  [*] --> waiting');
    expect(lines).toContain('    [*] --> fetching');
    expect(lines).toContain('  gaveUp --> [*]');
    expect(lines).toContain('  done --> [*]');
  });

  it('is deterministic and ends with one newline', () => {
    expect(toMermaid(tiny)).toBe(text);
    expect(text.endsWith('\n')).toBe(true);
    expect(text.endsWith('\n\n')).toBe(false);
  });

  it('wraps a root with transitions of its own, and draws targetless transitions as loops', () => {
    const machine = setup({}).createMachine({
      id: 'app',
      initial: 'on',
      on: { 'app.crashed': '.off', 'app.pinged': {} },
      states: { on: { on: { 'app.tick': { actions: () => {} } } }, off: {} },
    });
    expect(toMermaid(machine)).toBe(
      [
        'stateDiagram-v2',
        '  [*] --> app',
        '  state app {',
        '    [*] --> on',
        '    on --> on : app.tick',
        '    off',
        '  }',
        '  app --> off : app.crashed',
        '  app --> app : app.pinged',
        '',
      ].join('\n'),
    );
  });

  it('gives repeated or unsafe state keys their own ids and keeps the key as the label', () => {
    const machine = setup({}).createMachine({
      id: 'm',
      initial: 'a',
      states: {
        a: { initial: 'idle', states: { idle: { on: { go: '#m.b.idle' } } } },
        b: { initial: 'idle', states: { idle: {} } },
        'not ok': {},
        state: {},
      },
    });
    const drawn = toMermaid(machine).split('\n');
    expect(drawn).toContain('    state "idle" as a_idle');
    expect(drawn).toContain('    state "idle" as b_idle');
    expect(drawn).toContain('  a_idle --> b_idle : go');
    expect(drawn).toContain('  state "not ok" as not_ok');
    expect(drawn).toContain('  state "state" as s_state_');
  });

  it('names numeric delays in ms, combined guards by their parts, and keeps parallel regions apart', () => {
    const machine = setup({ guards: { isA: () => true, isB: () => false } }).createMachine({
      id: 'p',
      type: 'parallel',
      states: {
        left: {
          initial: 'x',
          states: { x: { after: { 500: { target: 'y', guard: and(['isA', not('isB')]) } } }, y: {} },
        },
        right: { initial: 'z', states: { z: {} } },
      },
    });
    const drawn = toMermaid(machine).split('\n');
    expect(drawn).toContain('      x --> y : after 500ms [isA && !isB]');
    expect(drawn.slice(0, 4)).toEqual(['stateDiagram-v2', '  [*] --> p', '  state p {', '    state left {']);
    expect(drawn.indexOf('    --')).toBeGreaterThan(drawn.indexOf('    state left {'));
    expect(drawn.indexOf('    --')).toBeLessThan(drawn.indexOf('    state right {'));
    expect(drawn).not.toContain('    [*] --> left');
  });
});

describe('toDot', () => {
  const dot = toDot(tiny);
  const lines = dot.split('\n').map((line) => line.trim());

  /** The lines between `subgraph "cluster_<id>" {` and its closing brace. */
  function cluster(text: string, id: string): string[] {
    const all = text.split('\n');
    const start = all.findIndex((line) => line.trim() === `subgraph "cluster_${id}" {`);
    expect(start, `cluster_${id}`).toBeGreaterThanOrEqual(0);
    const indent = all[start]!.length - all[start]!.trimStart().length;
    const end = all.findIndex((line, i) => i > start && line === `${' '.repeat(indent)}}`);
    return all.slice(start + 1, end).map((line) => line.trim());
  }

  it('draws compound states as clusters holding their children, entered from an initial dot', () => {
    expect(dot.startsWith('digraph "tiny" {\n')).toBe(true);
    expect(dot).not.toContain('cluster_tiny'); // a root without arrows of its own is not boxed
    const working = cluster(dot, 'working');
    expect(working).toContain('"working" [label=<<b>working</b>>, shape=plaintext, style="", height=0.3, margin=0, id="state:working"];');
    expect(working).toContain('"fetching" [label="fetching", id="state:working.fetching"];');
    expect(working).toContain('"checking" [label="checking", id="state:working.checking"];');
    expect(working).toContain('"working:initial" -> "fetching";');
    expect(lines).toContain('"tiny:initial" -> "waiting";');
    expect(lines).toContain('"gaveUp" [label="gaveUp", peripheries=2, id="state:gaveUp"];');
    expect(lines).toContain('"done" [label="done", peripheries=2, id="state:done"];');
  });

  it('names each state below the root by its path, as a state value does, for a page to mark the current one', () => {
    expect(cluster(dot, 'working')).toContain('graph [label="", style="rounded", color="#2d3748", penwidth=1.2, margin=10, id="cluster:working"];');
    const flat = flattenMachine(tiny);
    expect(flat.states.map(statePath)).toEqual(['', 'waiting', 'working', 'working.fetching', 'working.checking', 'gaveUp', 'done']);
    // The root is the chart itself: it has no id.
    expect(dot).not.toContain('id="state:"');
  });

  it('labels edges as the Mermaid files do, clipped at cluster borders, errors red and timeouts dashed', () => {
    expect(lines).toContain('"waiting" -> "working" [label=" job.requested ", lhead="cluster_working"];');
    expect(lines).toContain('"waiting" -> "gaveUp" [label=" after patience ", style=dashed];');
    expect(lines).toContain('"fetching" -> "checking" [label=" done: fetch "];');
    expect(lines).toContain('"fetching" -> "gaveUp" [label=" error: fetch ", color="#b42318", fontcolor="#b42318"];');
    expect(lines).toContain('"checking" -> "done" [label=" [isValid] "];');
    expect(lines).toContain('"checking" -> "fetching";');
    expect(dot).not.toMatch(/xstate\./);
  });

  it('is deterministic and ends with one newline', () => {
    expect(toDot(tiny)).toBe(dot);
    expect(dot.endsWith('}\n')).toBe(true);
  });

  it("boxes a root with arrows of its own, lists a compound state's targetless events under its name", () => {
    const machine = setup({}).createMachine({
      id: 'app',
      initial: 'on',
      on: { 'app.crashed': '.off', 'app.pinged': {} },
      states: {
        on: {
          initial: 'a',
          on: { 'app.reset': '.a', 'app.stop': '#app.off' },
          states: { a: { on: { 'app.tick': { actions: () => {} }, 'app.next': 'b', 'app.skip': 'b' } }, b: {} },
        },
        off: { on: { 'app.start': 'on' } },
      },
    });
    const drawn = toDot(machine);
    const app = cluster(drawn, 'app');
    expect(app.some((line) => line.startsWith('"app" [label=<<table') && line.includes('app.pinged'))).toBe(true);
    expect(drawn).not.toContain('"app" -> "app"');
    // From the root's name into one of its own states: no clipping, the arrow starts at the name.
    expect(drawn).toContain('"app" -> "off" [label=" app.crashed "];');
    expect(drawn).toContain('"on" -> "a" [label=" app.reset "];');
    // Out of a cluster, and into one: clipped at the border.
    expect(drawn).toContain('"on" -> "off" [label=" app.stop ", ltail="cluster_on"];');
    expect(drawn).toContain('"off" -> "on" [label=" app.start ", lhead="cluster_on"];');
    // Targetless on an atomic state: a loop. Two transitions between the same states: one arrow.
    expect(drawn).toContain('"a" -> "a" [label=" app.tick "];');
    expect(drawn).toContain('"a" -> "b" [label=" app.next \\n app.skip "];');
  });

  it('draws parallel regions as dashed clusters', () => {
    const machine = setup({}).createMachine({
      id: 'p',
      type: 'parallel',
      states: {
        left: { initial: 'x', states: { x: { on: { go: 'y' } }, y: {} } },
        right: { initial: 'z', states: { z: {} } },
      },
    });
    const drawn = toDot(machine);
    expect(cluster(drawn, 'p')).toContain('subgraph "cluster_left" {');
    expect(cluster(drawn, 'left')[0]).toContain('style="rounded,dashed"');
    expect(cluster(drawn, 'right')[0]).toContain('style="rounded,dashed"');
    expect(drawn).not.toContain('"p:initial"');
  });
});

describe('renderSvg', () => {
  it('lays DOT out as SVG offline, the same every time, without the Graphviz version', async () => {
    const svg = await renderSvg(toDot(tiny), 'a notice -- with dashes');
    expect(svg).toContain('<!-- a notice - - with dashes -->');
    expect(svg).toContain('<title>cluster_working</title>');
    expect(svg).toContain('<title>waiting&#45;&gt;working</title>');
    expect(svg).not.toMatch(/graphviz version/i);
    expect(await renderSvg(toDot(tiny), 'a notice -- with dashes')).toBe(svg);
  });

  it('rejects DOT that Graphviz cannot read', async () => {
    await expect(renderSvg('digraph {')).rejects.toThrow();
  });
});

describe('loading Graphviz', () => {
  const srcDir = fileURLToPath(new URL('../src/', import.meta.url));

  /** Every module `file` imports statically (`import ... from` / `export ... from`), type-only ones aside. */
  function staticImports(file: string): string[] {
    const text = readFileSync(file, 'utf8');
    const specifiers: string[] = [];
    for (const match of text.matchAll(/^(?:import|export)\s+(type\s+)?[^'";]*?\sfrom\s+'([^']+)'/gm)) {
      if (match[1] === undefined) specifiers.push(match[2]!);
    }
    return specifiers;
  }

  it("is never imported statically: the library's entry does not reach the diagrams code or @viz-js/viz", () => {
    const seen = new Set<string>();
    const queue = [join(srcDir, 'index.ts')];
    const external = new Set<string>();
    while (queue.length > 0) {
      const file = queue.pop()!;
      if (seen.has(file)) continue;
      seen.add(file);
      for (const specifier of staticImports(file)) {
        if (specifier.startsWith('.')) queue.push(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
        else external.add(specifier);
      }
    }
    expect(seen.size).toBeGreaterThan(5);
    expect([...seen].filter((file) => file.includes(`${join(srcDir, 'diagrams')}`))).toEqual([]);
    expect(external.has('@viz-js/viz')).toBe(false);
  });

  it('is imported by svg.ts only, and there dynamically, when the first SVG is rendered', () => {
    const files = readdirSync(srcDir, { recursive: true, encoding: 'utf8' }).filter((file) => file.endsWith('.ts'));
    const importers = files.filter((file) => staticImports(join(srcDir, file)).includes('@viz-js/viz'));
    expect(importers).toEqual([]);
    expect(readFileSync(join(srcDir, 'diagrams', 'svg.ts'), 'utf8')).toContain("import('@viz-js/viz')");
  });
});
