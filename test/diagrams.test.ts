/**
 * diagrams/ must match machines/: regenerated in memory and compared with the files on disk.
 * Plus the Mermaid renderer itself, on small inline machines.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { and, fromPromise, not, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import { DIAGRAM_SOURCES, renderDiagrams } from '../src/diagrams/generate.js';
import { toMermaid } from '../src/diagrams/mermaid.js';

const diagramsDir = fileURLToPath(new URL('../diagrams/', import.meta.url));
const rendered = renderDiagrams();

describe('diagrams/ is up to date with machines/', () => {
  it.each([...rendered.keys()])('diagrams/%s', (file) => {
    const path = `${diagramsDir}${file}`;
    const committed = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (committed === undefined) {
      expect.fail(`diagrams/${file} is missing: run \`npm run diagrams\` and commit the result`);
    }
    expect(committed, `diagrams/${file} is stale: run \`npm run diagrams\` and commit the result`).toBe(
      rendered.get(file),
    );
  });

  it('holds no .mmd file that is no longer generated', () => {
    const orphans = readdirSync(diagramsDir).filter((file) => file.endsWith('.mmd') && !rendered.has(file));
    expect(orphans, 'delete these, or run `npm run diagrams` after restoring their machine').toEqual([]);
  });

  it('draws every listed machine, and the README embeds each one and says how it is made', () => {
    const readme = rendered.get('README.md')!;
    expect(readme).toContain('`npm run diagrams`');
    expect(readme).toContain('Do not edit these files by hand');
    for (const { name, machine } of DIAGRAM_SOURCES) {
      expect(rendered.get(`${name}.mmd`)).toContain(toMermaid(machine).split('\n').slice(1).join('\n'));
      expect(readme).toContain(['```mermaid', toMermaid(machine).trimEnd(), '```'].join('\n'));
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
