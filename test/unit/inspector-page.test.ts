/**
 * The inspector page's script (src/inspector/page/app.ts) in this process, on a minimal DOM
 * (test/support/mini-dom.ts) built from the real page shell (src/inspector/page.ts) and the real
 * chart drawings (diagrams/): what it draws from a snapshot and deltas, the selection, the
 * filters, the timeline's window of rows and the chart marks. Chromium (test/browser/) checks
 * the same page against real daemons; this file lets a mutant of the page be seen.
 */
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { InspectRecord, SingletonView, Snapshot } from '../../src/inspector/model.js';
import { CHARTS, InspectorStore } from '../../src/inspector/model.js';
import { pageHtml } from '../../src/inspector/page.js';
import { MiniDocument, MiniDomParser, type MiniElement, MiniSvgElement, parseMarkup } from '../support/mini-dom.js';

/** 2026-12-07 09:05:03.007, local time (the page prints local times). */
const NOW = new Date(2026, 11, 7, 9, 5, 3, 7).getTime();

class FakeEventSource {
  static last: FakeEventSource | undefined;
  readonly #listeners = new Map<string, ((event: unknown) => void)[]>();
  constructor(readonly url: string) {
    FakeEventSource.last = this;
  }
  addEventListener(type: string, listener: (event: unknown) => void): void {
    this.#listeners.set(type, [...(this.#listeners.get(type) ?? []), listener]);
  }
  emit(type: string, data?: unknown): void {
    for (const listener of this.#listeners.get(type) ?? []) listener({ type, data: JSON.stringify(data) });
  }
}

interface Page {
  readonly document: MiniDocument;
  readonly source: FakeEventSource;
  readonly replaceState: ReturnType<typeof vi.fn>;
  /** Frames asked for and not yet drawn. */
  readonly frames: (() => void)[];
  readonly ticks: (() => void)[];
  /** Draws the frames asked for; returns how many there were. */
  draw(): number;
  $(selector: string): MiniElement;
  $$(selector: string): MiniElement[];
  snapshot(snapshot: Snapshot): void;
}

const intervals: ReturnType<typeof setInterval>[] = [];
let fetched: string[] = [];

/** Loads the page script afresh on the real page shell; `svg` answers `diagrams/<chart>.svg`. */
async function loadPage({ hash = '', svg = (chart: string) => readFileSync(`diagrams/${chart}.svg`, 'utf8') as string | undefined } = {}): Promise<Page> {
  const document = new MiniDocument(parseMarkup(pageHtml()));
  const frames: (() => void)[] = [];
  const ticks: (() => void)[] = [];
  const replaceState = vi.fn();
  fetched = [];
  vi.stubGlobal('document', document);
  vi.stubGlobal('location', { hash });
  vi.stubGlobal('history', { replaceState });
  vi.stubGlobal('requestAnimationFrame', (callback: () => void) => frames.push(callback));
  vi.stubGlobal('EventSource', FakeEventSource);
  vi.stubGlobal('DOMParser', MiniDomParser);
  vi.stubGlobal('SVGSVGElement', MiniSvgElement);
  vi.stubGlobal('fetch', async (url: string) => {
    fetched.push(url);
    const text = svg(url.replace(/^diagrams\/|\.svg$/g, ''));
    return { ok: text !== undefined, text: async () => text };
  });
  const realSetInterval = setInterval;
  vi.stubGlobal('setInterval', (callback: () => void, ms: number) => {
    ticks.push(callback);
    const id = realSetInterval(() => {}, ms);
    intervals.push(id);
    return id;
  });
  vi.resetModules();
  await import('../../src/inspector/page/app.js');
  vi.stubGlobal('setInterval', realSetInterval);
  // The drawings load through promises that are already settled.
  await new Promise((resolve) => setImmediate(resolve));
  const page: Page = {
    document,
    source: FakeEventSource.last!,
    replaceState,
    frames,
    ticks,
    draw() {
      const pending = frames.splice(0);
      for (const frame of pending) frame();
      return pending.length;
    },
    $: (selector) => document.querySelector(selector)!,
    $$: (selector) => document.querySelectorAll(selector),
    snapshot(snapshot) {
      page.source.emit('snapshot', snapshot);
    },
  };
  return page;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
});

afterEach(() => {
  for (const id of intervals.splice(0)) clearInterval(id);
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

function record(overrides: Partial<InspectRecord> & Pick<InspectRecord, 'pid' | 'area' | 'actor'>): InspectRecord {
  return { ts: NOW - 10_000, name: 'alpha', type: 'transition', ...overrides };
}

function figures(page: Page): Record<string, string> {
  return Object.fromEntries(page.$$('#figures dd').map((dd) => [dd.dataset.figure!, dd.textContent]));
}

/** A server-side store filled with `records` and `singletons`, as the server would send it. */
function snapshotOf(records: InspectRecord[], singletons: (Partial<SingletonView> & { name: string })[] = []): Snapshot {
  const store = new InspectorStore();
  for (const item of records) store.apply(item);
  for (const { name, ...patch } of singletons) store.updateSingleton(name, patch, NOW);
  return store.snapshot();
}

describe('the inspector page script', () => {
  it('shows the link to the server as it goes: connecting, live, reconnecting', async () => {
    const page = await loadPage();
    expect(page.source.url).toBe('events');
    expect(page.$('#link').textContent).toBe('connecting');
    page.source.emit('open');
    expect([page.$('#link').dataset.state, page.$('#link').textContent]).toEqual(['live', 'live']);
    page.source.emit('error');
    expect([page.$('#link').dataset.state, page.$('#link').textContent]).toEqual(['lost', 'reconnecting']);
  });

  it('loads every chart drawing into its figure, without its fixed size, and redraws once', async () => {
    const page = await loadPage();
    expect(fetched.sort()).toEqual(CHARTS.map((chart) => `diagrams/${chart}.svg`).sort());
    for (const chart of CHARTS) {
      const svg = page.$(`figure[data-chart="${chart}"] .drawing`).children[0] as MiniElement;
      expect(svg).toBeInstanceOf(MiniSvgElement);
      expect(svg.attributes.has('viewBox')).toBe(true);
      expect(svg.attributes.has('width')).toBe(false);
      expect(svg.attributes.has('height')).toBe(false);
    }
    expect(page.frames).toHaveLength(1);
  });

  it('leaves a figure empty when its drawing is missing or is not an SVG', async () => {
    const page = await loadPage({
      svg: (chart) => (chart === 'daemon' ? undefined : chart === 'mailbox' ? '<html></html>' : readFileSync(`diagrams/${chart}.svg`, 'utf8')),
    });
    expect(page.$('figure[data-chart="daemon"] .drawing').children).toHaveLength(0);
    expect(page.$('figure[data-chart="mailbox"] .drawing').children).toHaveLength(0);
    expect(page.$('figure[data-chart="client"] .drawing').children).toHaveLength(1);
  });

  it('with no singleton yet, keeps the empty note and says it waits', async () => {
    const page = await loadPage();
    page.snapshot(snapshotOf([]));
    page.draw();
    expect(page.$('#singletons').textContent).toBe('No singleton yet under this runtime root.');
    expect(page.$('#figures').textContent).toBe('Waiting for a singleton under the runtime root.');
    expect((page.$('#figures').children[0] as MiniElement).tagName).toBe('p');
    expect(page.$('#count').textContent).toBe('0 of 0 records');
    for (const chart of CHARTS) expect(page.$(`figure[data-chart="${chart}"] .where`).textContent).toBe('no live actor');
  });

  it('asks for one frame for many changes, and one more for the next change after it drew', async () => {
    const page = await loadPage();
    page.draw();
    page.snapshot(snapshotOf([]));
    page.source.emit('delta', { rows: [], actors: [], gone: [], singletons: [] });
    page.ticks[0]!();
    expect(page.draw()).toBe(1);
    page.ticks[0]!();
    expect(page.draw()).toBe(1);
    expect(page.draw()).toBe(0);
  });

  it('lists the singletons by name, the live one chosen, with their pid and state or why not', async () => {
    const page = await loadPage();
    page.snapshot(
      snapshotOf(
        [record({ pid: 100, area: 'daemon', actor: 'd', to: { serving: 'idle' } })],
        [
          { name: 'beta', status: 'gone', detail: 'exited with code 1' },
          { name: 'alpha', status: 'alive', pid: 100, state: { serving: 'idle' } },
          { name: 'gamma', status: 'absent' },
        ],
      ),
    );
    page.draw();
    const buttons = page.$$('#singletons button');
    expect(buttons.map((button) => [button.dataset.singleton, button.dataset.status, button.getAttribute('aria-pressed'), button.textContent])).toEqual([
      ['alpha', 'alive', 'true', 'alpha alivepid 100 · serving.idle'],
      ['beta', 'gone', 'false', 'beta goneexited with code 1'],
      ['gamma', 'absent', 'false', 'gamma absent'],
    ]);
    expect(buttons[0]!.querySelector('.status')!.textContent).toBe(' alive');
    expect(buttons[0]!.children.map((child) => (child as MiniElement).tagName)).toEqual(['b', 'span', 'br', 'span']);
    expect(buttons[0]!.type).toBe('button');
    expect(page.$('#figures').dataset.singleton).toBe('alpha');
  });

  it('chooses the first singleton when none is alive, and the one the address names', async () => {
    let page = await loadPage();
    page.snapshot(
      snapshotOf(
        [],
        [
          { name: 'b', status: 'gone' },
          { name: 'a', status: 'stale' },
        ],
      ),
    );
    page.draw();
    expect(page.$('#figures').dataset.singleton).toBe('a');
    page = await loadPage({ hash: '#two%20words' });
    page.snapshot(
      snapshotOf(
        [],
        [
          { name: 'alive', status: 'alive', pid: 1 },
          { name: 'two words', status: 'gone' },
        ],
      ),
    );
    page.draw();
    expect(page.$('#figures').dataset.singleton).toBe('two words');
    expect(page.$('#singletons button[data-singleton="two words"]').getAttribute('aria-pressed')).toBe('true');
  });

  it('selects a singleton on click: the address, the figures and the timeline follow', async () => {
    const page = await loadPage();
    page.snapshot(
      snapshotOf(
        [record({ pid: 1, area: 'daemon', actor: 'd', name: 'a', to: 'starting' }), record({ pid: 2, area: 'daemon', actor: 'd', name: 'b b', to: 'starting' })],
        [
          { name: 'a', status: 'alive', pid: 1 },
          { name: 'b b', status: 'alive', pid: 2 },
        ],
      ),
    );
    page.draw();
    (page.$('#filters').querySelector('[name="selected"]') as MiniElement).checked = true;
    page.$('#filters').dispatch('input');
    page.draw();
    expect(page.$$('#rows .row').map((row) => row.dataset.pid)).toEqual(['1']);
    page.$('#singletons button[data-singleton="b b"]').click();
    expect(page.replaceState).toHaveBeenCalledWith(null, '', '#b%20b');
    expect(page.draw()).toBe(1);
    expect(page.$('#figures').dataset.singleton).toBe('b b');
    expect(page.$('#singletons button[data-singleton="b b"]').getAttribute('aria-pressed')).toBe('true');
    expect(page.$$('#rows .row').map((row) => row.dataset.pid)).toEqual(['2']);
  });

  it('shows a live daemon’s figures, its waiting calls and its latest calls', async () => {
    const page = await loadPage();
    const calls = Array.from({ length: 14 }, (_, index) => ({
      ts: NOW,
      method: `m${index}`,
      id: index,
      outcome: index === 13 ? 'error' : 'ok',
      queuedMs: index,
      runMs: 1500,
      ...(index === 13 ? { code: 'ERR_X' } : {}),
    }));
    page.snapshot(
      snapshotOf(
        [],
        [
          {
            name: 'alpha',
            status: 'alive',
            pid: 100,
            state: { serving: 'busy' },
            active: 3,
            queued: 4,
            running: 1,
            runningMethod: 'slow',
            runningForMs: 65_000,
            waitingCalls: [{ method: 'inc', waitingMs: 12 }, { method: 'get' }],
            callsServed: 42,
            callsPerSecond: 2.25,
            rssBytes: 52_428_800,
            startedAt: NOW - 3_725_000,
            startReason: 'restart',
            transport: 'tcp',
            address: '127.0.0.1:4000',
            packageVersion: '1.2.3',
            calls,
            callsOmitted: 5,
          },
        ],
      ),
    );
    page.draw();
    expect(figures(page)).toEqual({
      status: 'alive',
      pid: '100',
      state: 'serving.busy',
      connections: '3',
      'queued calls': '4 (inc 12 ms, get, ...)',
      running: 'slow for 1 min 5 s',
      'calls/s': '2.3',
      'calls served': '42',
      'memory (RSS)': '50.0 MiB',
      uptime: '1 h 2 min',
      'start reason': 'restart',
      address: 'tcp 127.0.0.1:4000',
      version: '1.2.3',
    });
    expect(page.$$('#figures dt').map((dt) => dt.textContent)).toEqual(Object.keys(figures(page)));
    expect(page.$$('#figures h2').map((h) => h.textContent)).toEqual(['alpha', 'Latest calls (5 more not sampled)']);
    const tags = (element: MiniElement) => element.children.map((child) => (child as MiniElement).tagName);
    expect(tags(page.$('#figures'))).toEqual(['h2', 'dl', 'h2', 'table']);
    expect(tags(page.$('#figures dl'))).toEqual(Array.from({ length: 13 }, () => ['dt', 'dd']).flat());
    const [head, ...body] = page.$$('#figures table tr');
    expect(tags(head!)).toEqual(['th', 'th', 'th', 'th']);
    for (const row of body) expect(tags(row)).toEqual(['td', 'td', 'td', 'td']);
    const rows = page.$$('#figures table.calls tr').map((row) => row.children.map((cell) => cell.textContent));
    expect(rows[0]).toEqual(['method', 'outcome', 'queued', 'ran']);
    expect(rows.slice(1)).toEqual(
      calls
        .slice(-12)
        .reverse()
        .map((call) => [call.method, call.code ?? 'ok', `${call.queuedMs} ms`, '1.5 s']),
    );
    expect(page.$('#figures .failure')).toBeNull();
    expect(page.$('#figures .ended')).toBeNull();
  });

  it('shows dashes for what a daemon did not say, and no calls table without calls', async () => {
    const page = await loadPage();
    page.snapshot(snapshotOf([], [{ name: 'alpha', status: 'alive' }]));
    page.draw();
    expect(figures(page)).toEqual({
      status: 'alive',
      pid: '-',
      state: '-',
      connections: '-',
      'queued calls': '-',
      running: 'nothing',
      'calls/s': '-',
      'calls served': '-',
      'memory (RSS)': '-',
      uptime: '-',
      'start reason': '-',
      address: '-',
      version: '-',
    });
    expect(page.$('#figures table')).toBeNull();
    expect(page.$$('#figures h2').map((h) => h.textContent)).toEqual(['alpha']);
  });

  it('words durations by size: ms, s, min, h; a running call without a duration; no uptime once gone', async () => {
    const page = await loadPage();
    const cases: [number, string][] = [
      [999.4, '999 ms'],
      [1000, '1.0 s'],
      [59_999, '60.0 s'],
      [60_000, '1 min 0 s'],
      [3_599_000, '59 min 59 s'],
      [3_600_000, '1 h 0 min'],
      [7_380_000, '2 h 3 min'],
    ];
    for (const [ms, words] of cases) {
      page.snapshot(snapshotOf([], [{ name: 'a', status: 'alive', running: 1, runningForMs: ms, queued: 1, waitingCalls: [{ method: 'w' }] }]));
      page.draw();
      expect([ms, figures(page).running, figures(page)['queued calls']]).toEqual([ms, `a call for ${words}`, '1 (w)']);
    }
    page.snapshot(snapshotOf([], [{ name: 'a', status: 'gone', running: 1, startedAt: NOW - 5000, queued: 0, waitingCalls: [] }]));
    page.draw();
    expect([figures(page).running, figures(page).uptime, figures(page)['queued calls']]).toEqual(['a call', '-', '0']);
  });

  it('says what went wrong: the failed actor, the detail, the failing log line and the log tail', async () => {
    const page = await loadPage();
    page.snapshot(
      snapshotOf(
        [
          record({ pid: 7, area: 'daemon', actor: 'd', to: 'failed', error: { code: 'ERR_FACTORY', message: 'boom' } }),
          record({ pid: 8, area: 'client', actor: 'c', name: 'other', to: 'failed', error: { message: 'not ours' } }),
        ],
        [{ name: 'alpha', status: 'gone', pid: 7, detail: 'exited with code 1', logTail: ['started', 'factory failed (boom)', 'bye'] }],
      ),
    );
    page.draw();
    const box = page.$('#figures .failure');
    expect(box.children.map((child) => (child as MiniElement).textContent)).toEqual([
      'daemon (pid 7) failed with ERR_FACTORY: boom',
      'exited with code 1',
      'factory failed (boom)',
      'started\nfactory failed (boom)\nbye',
    ]);
    expect((box.children[2] as MiniElement).className).toBe('logged');
    expect([box.tagName, ...box.children.map((child) => (child as MiniElement).tagName)]).toEqual(['div', 'div', 'div', 'div', 'pre']);
    expect((box.children[3] as MiniElement).tagName).toBe('pre');
  });

  it('marks a failure without a code, an unresponsive or stale daemon, a failed state; a plain end is not one', async () => {
    const page = await loadPage();
    page.snapshot(snapshotOf([record({ pid: 7, area: 'daemon', actor: 'd', to: 'failed', error: { message: 'boom' } })], [{ name: 'alpha', status: 'alive', pid: 7 }]));
    page.draw();
    expect(page.$('#figures .failure').textContent).toBe('daemon (pid 7) failed: boom');
    for (const status of ['unresponsive', 'stale'] as const) {
      page.snapshot(snapshotOf([], [{ name: 'alpha', status, detail: `it is ${status}` }]));
      page.draw();
      expect(page.$('#figures .failure').textContent).toBe(`it is ${status}`);
    }
    page.snapshot(snapshotOf([], [{ name: 'alpha', status: 'alive', state: 'failed' }]));
    page.draw();
    expect(page.$('#figures .failure').textContent).toBe('');
    page.snapshot(snapshotOf([], [{ name: 'alpha', status: 'gone', logTail: ['a line', 'uncaught TypeError', 'last'] }]));
    page.draw();
    expect(page.$('#figures .failure')).toBeNull();
    expect(page.$('#figures .ended').children.map((child) => (child as MiniElement).textContent)).toEqual(['uncaught TypeError', 'a line\nuncaught TypeError\nlast']);
    page.snapshot(snapshotOf([], [{ name: 'alpha', status: 'gone', logTail: [] }]));
    page.draw();
    expect(page.$('#figures .ended').children).toHaveLength(0);
  });

  it('marks the live actors’ states on their charts and names where they are', async () => {
    const page = await loadPage();
    page.snapshot(
      snapshotOf(
        [
          record({ pid: 100, area: 'daemon', actor: 'd', to: { serving: 'idle' }, ts: NOW - 10_000 }),
          record({ pid: 100, area: 'mailbox', actor: 'm', name: 'someone else', to: 'accepting' }),
          record({ pid: 55, area: 'client', actor: 'c1', to: 'connected' }),
          record({ pid: 56, area: 'client', actor: 'c2', name: 'other', to: 'discovering' }),
          ...[1, 2, 3, 4, 5].map((n) => record({ pid: 200 + n, area: 'supervisor', actor: `s${n}`, to: 'connected' })),
        ],
        [{ name: 'alpha', status: 'alive', pid: 100 }],
      ),
    );
    page.draw();
    const where = (chart: string) => page.$(`figure[data-chart="${chart}"] .where`).textContent;
    const active = (chart: string) => page.$(`figure[data-chart="${chart}"]`).dataset.active;
    expect(where('daemon')).toBe('pid 100: serving.idle');
    expect(active('daemon')).toBe('serving.idle');
    // The mailbox is the daemon's by its pid, whatever name it carries.
    expect(where('mailbox')).toBe('pid 100: accepting');
    // A client's chart shows this singleton's clients only.
    expect(where('client')).toBe('pid 55: connected');
    expect(where('supervisor')).toBe('pid 201: connected · pid 202: connected · pid 203: connected · pid 204: connected · 1 more');
    expect(where('client-handshake')).toBe('no live actor');
    const svg = page.$('figure[data-chart="daemon"] svg');
    const classed = (name: string) =>
      svg
        .querySelectorAll(`.${name}`)
        .map((element) => element.id)
        .sort();
    expect(classed('lbs-active')).toEqual(['cluster:serving', 'state:serving', 'state:serving.idle']);
    // The last transition is 10 s old: no longer marked as new.
    expect(classed('lbs-last')).toEqual([]);
  });

  it('marks the latest transition as new for three seconds, and moves the marks with the state', async () => {
    const page = await loadPage();
    page.snapshot(
      snapshotOf(
        [
          record({ pid: 100, area: 'daemon', actor: 'd', to: { serving: 'idle' }, ts: NOW - 1000 }),
          record({ pid: 100, area: 'daemon', actor: 'd', from: { serving: 'idle' }, to: { serving: 'busy' }, ts: NOW - 500 }),
        ],
        [{ name: 'alpha', status: 'alive', pid: 100 }],
      ),
    );
    page.draw();
    const svg = page.$('figure[data-chart="daemon"] svg');
    const classed = (name: string) =>
      svg
        .querySelectorAll(`.${name}`)
        .map((element) => element.id)
        .sort();
    expect(classed('lbs-last')).toEqual(['state:serving.busy']);
    expect(classed('lbs-active')).toEqual(['cluster:serving', 'state:serving', 'state:serving.busy']);
    page.source.emit('delta', {
      rows: [],
      gone: [],
      singletons: [],
      actors: [{ key: '100:d', pid: 100, chart: 'daemon', name: 'alpha', actor: 'd', state: 'stopped', paths: ['stopped'], since: NOW }],
    });
    // Exactly three seconds after it: no longer new.
    vi.setSystemTime(NOW + 2500);
    page.draw();
    expect(classed('lbs-active')).toEqual(['state:stopped']);
    expect(classed('lbs-last')).toEqual([]);
  });

  it('draws the timeline newest first, in a window of the rows in view', async () => {
    const page = await loadPage();
    const records = Array.from({ length: 100 }, (_, index) => record({ pid: 100, area: 'daemon', actor: 'd', to: `s${index}`, ts: NOW - 100_000 + index * 1000 }));
    page.snapshot(snapshotOf(records, [{ name: 'alpha', status: 'alive', pid: 100 }]));
    const rows = page.$('#rows');
    rows.clientHeight = 220;
    page.draw();
    expect(page.$('#count').textContent).toBe('100 of 100 records');
    expect(rows.dataset.rows).toBe('100');
    expect(page.$('#spacer').style.height).toBe('2200px');
    let drawn = page.$$('#rows .row');
    expect(rows.children[0]).toBe(page.$('#spacer'));
    expect(drawn).toHaveLength(20);
    expect(drawn[0]!.style.transform).toBe('translateY(0px)');
    expect(drawn[0]!.children.at(-2)!.textContent).toBe('(start) → s99');
    rows.scrollTop = 440;
    rows.dispatch('scroll');
    expect(page.draw()).toBe(1);
    drawn = page.$$('#rows .row');
    expect(drawn.map((row) => row.style.transform)).toEqual(Array.from({ length: 30 }, (_, index) => `translateY(${(index + 10) * 22}px)`));
    rows.scrollTop = 2200 - 220;
    rows.dispatch('scroll');
    page.draw();
    expect(page.$$('#rows .row')).toHaveLength(20);
    expect(page.$$('#rows .row').at(-1)!.children.at(-2)!.textContent).toBe('(start) → s0');
  });

  it('writes each row: time, pid and role, chart, actor, what happened with its mark, the event', async () => {
    const page = await loadPage();
    const at = new Date(2026, 11, 7, 8, 4, 2, 5).getTime();
    page.snapshot(
      snapshotOf(
        [
          record({ pid: 100, area: 'daemon', actor: 'd', type: 'spawn', ts: at }),
          record({ pid: 55, area: 'client', actor: 'c', from: 'locking', to: { locked: 'spawning' }, event: 'lock.acquired', ts: at + 1 }),
          record({ pid: 100, area: 'daemon', actor: 'd', from: 'starting', to: 'failed', error: { message: 'it broke' }, event: 'boot.failed', ts: at + 2 }),
          record({ pid: 55, area: 'client', actor: 'c', type: 'stop', ts: at + 3 }),
          record({ pid: 55, area: 'supervisor', actor: 's', to: 'connected', ts: at + 3 }),
        ],
        [{ name: 'alpha', status: 'alive', pid: 100 }],
      ),
    );
    page.$('#rows').clientHeight = 400;
    page.draw();
    const cells = page.$$('#rows .row').map((row) => row.children.map((cell) => cell.textContent));
    expect(cells).toEqual([
      ['08:04:02.008', '55 c', 'supervisor', 's', '(start) → connected', ''],
      ['08:04:02.008', '55 c', 'client', 'c', 'stopped', ''],
      ['08:04:02.007', '100 d', 'daemon', 'd', 'starting → failed: it brokefailed', 'boot.failed'],
      ['08:04:02.006', '55 c', 'client', 'c', 'locking → locked.spawningspawn lock won', 'lock.acquired'],
      ['08:04:02.005', '100 d', 'daemon', 'd', 'starteddaemon boot', ''],
    ]);
    const drawn = page.$$('#rows .row');
    expect(drawn.map((row) => row.dataset.mark)).toEqual([undefined, undefined, 'failed', 'lock-won', 'boot']);
    expect(drawn.map((row) => row.dataset.chart)).toEqual(['supervisor', 'client', 'daemon', 'client', 'daemon']);
    expect(drawn[2]!.querySelector('.badge')!.textContent).toBe('failed');
    expect(drawn.map((row) => row.tagName)).toEqual(['div', 'div', 'div', 'div', 'div']);
    expect(drawn[2]!.children.map((child) => (child as MiniElement).tagName)).toEqual(['span', 'span', 'span', 'span', 'span', 'span']);
    expect(drawn[2]!.querySelector('.badge')!.tagName).toBe('span');
    expect(drawn[0]!.querySelector('.badge')).toBeNull();
    expect(drawn[2]!.title).toBe('alpha · daemon pid 100 · starting → failed: it broke on boot.failed');
    expect(drawn[1]!.title).toBe('alpha · client pid 55 · stopped');
  });

  it('filters the timeline by chart and by pid, as the form changes', async () => {
    const page = await loadPage();
    page.snapshot(
      snapshotOf(
        [
          record({ pid: 100, area: 'daemon', actor: 'd', to: 'starting', ts: NOW - 3 }),
          record({ pid: 55, area: 'client', actor: 'c', to: 'discovering', ts: NOW - 2 }),
          record({ pid: 56, area: 'client', actor: 'c', to: 'discovering', ts: NOW - 1 }),
        ],
        [{ name: 'alpha', status: 'alive', pid: 100 }],
      ),
    );
    page.$('#rows').clientHeight = 400;
    page.draw();
    const pids = () => page.$$('#rows .row').map((row) => row.dataset.pid);
    expect(pids()).toEqual(['56', '55', '100']);
    const form = page.$('#filters');
    (form.querySelector('input[value="daemon"]') as MiniElement).checked = false;
    form.dispatch('input');
    expect(page.draw()).toBe(1);
    expect(pids()).toEqual(['56', '55']);
    (form.querySelector('[name="pid"]') as MiniElement).value = '55';
    form.querySelector('[name="pid"]')!.dispatch('input');
    page.draw();
    expect(pids()).toEqual(['55']);
    expect(page.$('#count').textContent).toBe('1 of 3 records');
  });

  it('orders rows of the same time by arrival, and replaces its store on a new snapshot', async () => {
    const page = await loadPage();
    page.snapshot(
      snapshotOf(
        [
          record({ pid: 1, area: 'client', actor: 'a', to: 'x', ts: NOW }),
          record({ pid: 2, area: 'client', actor: 'b', to: 'y', ts: NOW }),
          record({ pid: 3, area: 'client', actor: 'c', to: 'z', ts: NOW - 1 }),
        ],
        [{ name: 'alpha', status: 'alive' }],
      ),
    );
    page.$('#rows').clientHeight = 400;
    page.draw();
    expect(page.$$('#rows .row').map((row) => row.dataset.pid)).toEqual(['2', '1', '3']);
    page.source.emit('delta', {
      rows: snapshotOf([record({ pid: 4, area: 'daemon', actor: 'd', to: 'w', ts: NOW - 2 })]).rows.map((row) => ({ ...row, seq: 9 })),
      actors: [],
      gone: [],
      singletons: [],
    });
    page.draw();
    const roles = page.$$('#rows .row').map((row) => row.children[1]!.textContent);
    expect(roles).toEqual(['2 c', '1 c', '3 c', '4 d']);
    page.snapshot({ ...snapshotOf([record({ pid: 5, area: 'handshake', actor: 'h', to: 'x' })]), daemonPids: [5] });
    page.draw();
    expect(page.$$('#rows .row').map((row) => row.children[1]!.textContent)).toEqual(['5 d']);
    expect(page.$('#count').textContent).toBe('1 of 1 records');
  });
  it('chooses the live singleton over the first one when the address names none', async () => {
    const page = await loadPage();
    page.snapshot(
      snapshotOf(
        [],
        [
          { name: 'a', status: 'gone' },
          { name: 'b', status: 'alive', pid: 2 },
          { name: 'c', status: 'alive', pid: 3 },
        ],
      ),
    );
    page.draw();
    expect(page.$('#figures').dataset.singleton).toBe('b');
    expect(page.$$('#singletons button').map((button) => button.getAttribute('aria-pressed'))).toEqual(['false', 'true', 'false']);
  });

  it('titles the latest calls without a count when every call was sampled', async () => {
    const page = await loadPage();
    page.snapshot(snapshotOf([], [{ name: 'a', status: 'alive', calls: [{ ts: NOW, method: 'm', id: 1, outcome: 'ok', queuedMs: 1, runMs: 2 }] }]));
    page.draw();
    expect(page.$$('#figures h2').map((h) => h.textContent)).toEqual(['a', 'Latest calls']);
  });

  it('does not pin another singleton’s failed actor on this one, nor this one’s actor that did not fail', async () => {
    const page = await loadPage();
    page.snapshot(
      snapshotOf(
        [
          record({ pid: 8, area: 'daemon', actor: 'o', name: 'other', to: 'failed', error: { message: 'not ours' } }),
          record({ pid: 7, area: 'daemon', actor: 'd', to: { serving: 'idle' } }),
        ],
        [{ name: 'alpha', status: 'alive', pid: 7 }],
      ),
    );
    page.draw();
    expect(page.$('#figures .failure')).toBeNull();
    expect(page.$('#figures .ended')).toBeNull();
  });

  it('puts on the daemon’s charts its own actors by pid or by name, on the clients’ charts by name only', async () => {
    const page = await loadPage();
    page.snapshot(
      snapshotOf(
        [
          // The previous daemon of alpha (another pid, same name), and a daemon of another singleton.
          record({ pid: 99, area: 'daemon', actor: 'old', to: 'stopped' }),
          record({ pid: 300, area: 'daemon', actor: 'x', name: 'other', to: 'starting' }),
          record({ pid: 100, area: 'daemon', actor: 'd', to: { serving: 'idle' } }),
          // An actor of the daemon's process under another name: the daemon's by its pid.
          record({ pid: 100, area: 'daemon', actor: 'd2', name: 'renamed', to: 'stopped' }),
          // The daemon's side of a handshake, named after the address.
          record({ pid: 100, area: 'handshake', actor: 'h', name: '127.0.0.1:4000', to: 'awaitingAuth' }),
          // A client actor in the daemon's process, of another singleton: not alpha's client.
          record({ pid: 100, area: 'client', actor: 'c', name: 'other', to: 'discovering' }),
        ],
        [{ name: 'alpha', status: 'alive', pid: 100 }],
      ),
    );
    page.draw();
    const where = (chart: string) => page.$(`figure[data-chart="${chart}"] .where`).textContent;
    expect(where('daemon')).toBe('pid 99: stopped · pid 100: serving.idle · pid 100: stopped');
    expect(where('daemon-handshake')).toBe('pid 100: awaitingAuth');
    expect(where('client')).toBe('no live actor');
    expect(page.$('figure[data-chart="daemon"]').dataset.active).toBe('serving.idle stopped');
  });

  it('names four actors without a "more", and sorts the marked states', async () => {
    const page = await loadPage();
    const states = ['waiting', 'connected', 'backoff', 'connected'];
    page.snapshot(
      snapshotOf(
        states.map((to, n) => record({ pid: 201 + n, area: 'supervisor', actor: `s${n}`, to })),
        [{ name: 'alpha', status: 'alive', pid: 100 }],
      ),
    );
    page.draw();
    expect(page.$('figure[data-chart="supervisor"] .where').textContent).toBe('pid 201: waiting · pid 202: connected · pid 203: backoff · pid 204: connected');
    expect(page.$('figure[data-chart="supervisor"]').dataset.active).toBe('backoff connected waiting');
  });

  it('marks as new only the latest transition of this singleton: not a later start or stop, nor another singleton’s', async () => {
    const page = await loadPage();
    page.snapshot(
      snapshotOf(
        [
          record({ pid: 100, area: 'daemon', actor: 'd', to: { serving: 'busy' }, ts: NOW - 900 }),
          record({ pid: 300, area: 'daemon', actor: 'x', name: 'other', to: 'draining', ts: NOW - 500 }),
          record({ pid: 101, area: 'daemon', actor: 'n', type: 'spawn', ts: NOW - 100 }),
        ],
        [{ name: 'alpha', status: 'alive', pid: 100 }],
      ),
    );
    page.draw();
    const svg = page.$('figure[data-chart="daemon"] svg');
    expect(svg.querySelectorAll('.lbs-last').map((element) => element.id)).toEqual(['state:serving.busy']);
  });

  it('looks for the latest transition among the last 500 rows only', async () => {
    const page = await loadPage();
    const records = [
      record({ pid: 100, area: 'daemon', actor: 'd', to: { serving: 'busy' }, ts: NOW - 900 }),
      ...Array.from({ length: 500 }, (_, n) => record({ pid: 55, area: 'client', actor: `c${n}`, to: 'discovering', ts: NOW - 800 })),
    ];
    page.snapshot(snapshotOf(records, [{ name: 'alpha', status: 'alive', pid: 100 }]));
    page.draw();
    expect(page.$('figure[data-chart="daemon"] svg').querySelectorAll('.lbs-last')).toEqual([]);
    expect(
      page
        .$('figure[data-chart="client"] svg')
        .querySelectorAll('.lbs-last')
        .map((element) => element.id),
    ).toEqual(['state:discovering']);
  });

  it('marks every region of a parallel state as new, and draws the rest without a drawing', async () => {
    const drawing = '<svg viewBox="0 0 1 1"><g id="state:a.x"></g><g id="state:b.y"></g><g id="state:a"></g></svg>';
    const page = await loadPage({ svg: (chart) => (chart === 'daemon' ? drawing : undefined) });
    page.snapshot(
      snapshotOf(
        [record({ pid: 100, area: 'daemon', actor: 'd', to: { a: 'x', b: 'y' }, ts: NOW - 10 }), record({ pid: 100, area: 'mailbox', actor: 'm', to: 'accepting' })],
        [{ name: 'alpha', status: 'alive', pid: 100 }],
      ),
    );
    page.draw();
    const svg = page.$('figure[data-chart="daemon"] svg');
    expect(svg.querySelectorAll('.lbs-last').map((element) => element.id)).toEqual(['state:a.x', 'state:b.y']);
    expect(svg.querySelectorAll('.lbs-active').map((element) => element.id)).toEqual(['state:a.x', 'state:b.y', 'state:a']);
    // The mailbox has no drawing: its figure still says where its actor is.
    expect(page.$('figure[data-chart="mailbox"] .where').textContent).toBe('pid 100: accepting');
    expect(page.$('figure[data-chart="mailbox"]').dataset.active).toBe('accepting');
  });

  it('listens to the timeline’s scroll passively', async () => {
    const page = await loadPage();
    expect(page.$('#rows').listenerOptions.get('scroll')).toEqual([{ passive: true }]);
  });
});
