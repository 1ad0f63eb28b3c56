/**
 * The inspector page, in the browser: it follows the server's live stream (a snapshot, then
 * deltas) into the same store the server keeps (../model.ts), and redraws at most once per
 * animation frame: the singletons, the selected daemon's figures, its statecharts with the
 * states of its live actors marked, and the timeline (only the rows in view are in the DOM, so
 * tens of thousands of rows cost what forty do).
 */
import { CHARTS, type ActorView, type ChartName, formatStateValue, InspectorStore, type Row, type SingletonView, type Snapshot } from '../model.js';

const ROW_HEIGHT = 22;
/** Rows drawn above and below the visible ones. */
const OVERSCAN = 10;
/** How long the last transition into a state stays marked as new. */
const RECENT_MS = 3000;

const $ = <E extends Element>(selector: string): E => document.querySelector(selector) as E;

let store = new InspectorStore(false);
let selected: string | undefined = decodeURIComponent(location.hash.slice(1)) || undefined;
/** Rows shown with the current filter, newest first; undefined when it must be recomputed. */
let shown: Row[] | undefined;
let frame = 0;
const drawings = new Map<ChartName, SVGSVGElement>();

/** Asks for a redraw on the next frame (several changes, one redraw). */
function schedule(): void {
  if (frame === 0) frame = requestAnimationFrame(draw);
}

function draw(): void {
  frame = 0;
  drawSingletons();
  drawFigures();
  drawCharts();
  drawTimeline();
}

function text(tag: string, content: string, className?: string): HTMLElement {
  const element = document.createElement(tag);
  element.textContent = content;
  if (className !== undefined) element.className = className;
  return element;
}

function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

function formatTime(ts: number): string {
  const at = new Date(ts);
  return `${at.toTimeString().slice(0, 8)}.${String(at.getMilliseconds()).padStart(3, '0')}`;
}

function current(): SingletonView | undefined {
  const all = store.singletons();
  return all.find((singleton) => singleton.name === selected) ?? all.find((singleton) => singleton.status === 'alive') ?? all[0];
}

function drawSingletons(): void {
  const nav = $<HTMLElement>('#singletons');
  const all = store.singletons();
  if (all.length === 0) return;
  const chosen = current()?.name;
  nav.replaceChildren(
    ...all.map((singleton) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.singleton = singleton.name;
      button.dataset.status = singleton.status;
      button.setAttribute('aria-pressed', String(singleton.name === chosen));
      const state = singleton.status === 'alive' ? formatStateValue(singleton.state) : (singleton.detail ?? '');
      button.append(text('b', singleton.name), text('span', ` ${singleton.status}`, 'status'), document.createElement('br'));
      button.append(text('span', `${singleton.pid === undefined ? '' : `pid ${singleton.pid} · `}${state}`));
      button.addEventListener('click', () => {
        selected = singleton.name;
        history.replaceState(null, '', `#${encodeURIComponent(singleton.name)}`);
        shown = undefined;
        schedule();
      });
      return button;
    }),
  );
}

function drawFigures(): void {
  const section = $<HTMLElement>('#figures');
  const singleton = current();
  if (singleton === undefined) return void section.replaceChildren(text('p', 'Waiting for a singleton under the runtime root.'));
  section.dataset.singleton = singleton.name;
  section.dataset.status = singleton.status;
  const now = Date.now();
  const figures: [string, string][] = [
    ['status', singleton.status],
    ['pid', singleton.pid === undefined ? '-' : String(singleton.pid)],
    ['state', formatStateValue(singleton.state) || '-'],
    ['connections', String(singleton.active ?? '-')],
    ['queued calls', `${singleton.queued ?? '-'}${waiting(singleton)}`],
    [
      'running',
      singleton.running
        ? `${singleton.runningMethod ?? 'a call'}${singleton.runningForMs === undefined ? '' : ` for ${formatDuration(singleton.runningForMs)}`}`
        : 'nothing',
    ],
    ['calls/s', singleton.callsPerSecond === undefined ? '-' : singleton.callsPerSecond.toFixed(1)],
    ['calls served', String(singleton.callsServed ?? '-')],
    ['memory (RSS)', singleton.rssBytes === undefined ? '-' : `${(singleton.rssBytes / 1048576).toFixed(1)} MiB`],
    ['uptime', singleton.startedAt === undefined || singleton.status !== 'alive' ? '-' : formatDuration(now - singleton.startedAt)],
    ['start reason', singleton.startReason ?? '-'],
    ['address', singleton.address === undefined ? '-' : `${singleton.transport} ${singleton.address}`],
    ['version', singleton.packageVersion ?? '-'],
  ];
  const list = document.createElement('dl');
  for (const [term, value] of figures) {
    const dd = text('dd', value);
    dd.dataset.figure = term;
    list.append(text('dt', term), dd);
  }
  const parts: Node[] = [text('h2', singleton.name), list];
  const failure = failureOf(singleton);
  if (failure !== undefined) parts.push(failure);
  const calls = singleton.calls ?? [];
  if (calls.length > 0) {
    const table = document.createElement('table');
    table.className = 'calls';
    const head = document.createElement('tr');
    head.append(text('th', 'method'), text('th', 'outcome'), text('th', 'queued'), text('th', 'ran'));
    table.append(head);
    for (const call of calls.slice(-12).reverse()) {
      const row = document.createElement('tr');
      row.append(text('td', call.method), text('td', call.code ?? call.outcome), text('td', formatDuration(call.queuedMs)), text('td', formatDuration(call.runMs)));
      table.append(row);
    }
    const omitted = singleton.callsOmitted ? ` (${singleton.callsOmitted} more not sampled)` : '';
    parts.push(text('h2', `Latest calls${omitted}`), table);
  }
  section.replaceChildren(...parts);
}

/** The waiting calls' methods and waits, after the count: ` (inc 12 ms, get)`. */
function waiting(singleton: SingletonView): string {
  const calls = singleton.waitingCalls ?? [];
  if (calls.length === 0) return '';
  const shown = calls.map((call) => `${call.method}${call.waitingMs === undefined ? '' : ` ${formatDuration(call.waitingMs)}`}`);
  const more = (singleton.queued ?? 0) > calls.length ? ', ...' : '';
  return ` (${shown.join(', ')}${more})`;
}

/** What went wrong, for a daemon that failed or went away, or a failed actor of this singleton. */
function failureOf(singleton: SingletonView): HTMLElement | undefined {
  const failedActor = store.actors().find((actor) => actor.name === singleton.name && actor.error !== undefined);
  const failed = failedActor !== undefined || singleton.status === 'stale' || singleton.status === 'unresponsive' || formatStateValue(singleton.state) === 'failed';
  if (!failed && singleton.logTail === undefined) return undefined;
  const box = document.createElement('div');
  box.className = failed ? 'failure' : 'ended';
  if (failedActor?.error !== undefined) {
    const { code, message } = failedActor.error;
    box.append(text('div', `${failedActor.chart} (pid ${failedActor.pid}) failed${code ? ` with ${code}` : ''}: ${message}`));
  }
  if (singleton.detail !== undefined) box.append(text('div', singleton.detail));
  const failedLine = singleton.logTail?.findLast((line) => / failed \(|uncaught /.test(line));
  if (failedLine !== undefined) box.append(text('div', failedLine, 'logged'));
  if (singleton.logTail !== undefined && singleton.logTail.length > 0) box.append(text('pre', singleton.logTail.join('\n')));
  return box;
}

/** The actors of `singleton` drawn on `chart`: the daemon's own by pid, the clients' by name. */
function actorsOn(chart: ChartName, singleton: SingletonView): ActorView[] {
  const daemonSide = chart === 'daemon' || chart === 'mailbox' || chart === 'daemon-handshake';
  return store
    .actors()
    .filter((actor) => actor.chart === chart && (daemonSide ? actor.pid === singleton.pid || actor.name === singleton.name : actor.name === singleton.name));
}

function drawCharts(): void {
  const singleton = current();
  const latest = new Map<ChartName, Row>();
  for (const row of store.rows().slice(-500)) if (row.type === 'transition' && (singleton === undefined || row.name === singleton.name)) latest.set(row.chart, row);
  for (const chart of CHARTS) {
    const figure = $<HTMLElement>(`figure[data-chart="${chart}"]`);
    const svg = drawings.get(chart);
    const actors = singleton === undefined ? [] : actorsOn(chart, singleton);
    const leaves = new Set<string>();
    const active = new Set<string>();
    for (const actor of actors) {
      for (const path of actor.paths) {
        active.add(path);
        if (!actor.paths.some((other) => other.startsWith(`${path}.`))) leaves.add(path);
      }
    }
    figure.dataset.active = [...leaves].sort().join(' ');
    const where = figure.querySelector('.where')!;
    where.textContent =
      actors.length === 0
        ? 'no live actor'
        : actors
            .slice(0, 4)
            .map((actor) => `pid ${actor.pid}: ${formatStateValue(actor.state)}`)
            .join(' · ') + (actors.length > 4 ? ` · ${actors.length - 4} more` : '');
    if (svg === undefined) continue;
    for (const element of svg.querySelectorAll('.lbs-active, .lbs-last')) element.classList.remove('lbs-active', 'lbs-last');
    for (const path of active) {
      svg.querySelector(`[id="state:${path}"]`)?.classList.add('lbs-active');
      svg.querySelector(`[id="cluster:${path}"]`)?.classList.add('lbs-active');
    }
    const last = latest.get(chart);
    if (last !== undefined && Date.now() - last.ts < RECENT_MS) {
      for (const path of formatStateValue(last.to).replace(/[{}]/g, '').split(', ')) svg.querySelector(`[id="state:${path}"]`)?.classList.add('lbs-last');
    }
  }
}

/** The filter's rows, newest first. */
function filtered(): Row[] {
  const form = $<HTMLFormElement>('#filters');
  const charts = new Set([...form.querySelectorAll<HTMLInputElement>('input[name="chart"]:checked')].map((input) => input.value));
  const pid = Number.parseInt((form.elements.namedItem('pid') as HTMLInputElement).value, 10);
  const onlySelected = (form.elements.namedItem('selected') as HTMLInputElement).checked;
  const name = current()?.name;
  const rows = store.rows().filter((row) => charts.has(row.chart) && (Number.isNaN(pid) || row.pid === pid) && (!onlySelected || row.name === name));
  // Records from the daemons and from the clients' file arrive in their own order: shown by time.
  return rows.sort((a, b) => b.ts - a.ts || b.seq - a.seq);
}

function describeRow(row: Row): string {
  if (row.type === 'spawn') return 'started';
  if (row.type === 'stop') return 'stopped';
  const from = row.from === undefined ? '(start)' : formatStateValue(row.from);
  return `${from} → ${formatStateValue(row.to)}${row.error ? `: ${row.error.message}` : ''}`;
}

function rowElement(row: Row, index: number): HTMLElement {
  const element = document.createElement('div');
  element.className = 'row';
  element.style.transform = `translateY(${index * ROW_HEIGHT}px)`;
  element.dataset.pid = String(row.pid);
  element.dataset.chart = row.chart;
  if (row.mark !== undefined) element.dataset.mark = row.mark;
  const role = store.daemonPids.has(row.pid) ? 'daemon' : 'client';
  const badge = row.mark === 'boot' ? 'daemon boot' : row.mark === 'lock-won' ? 'spawn lock won' : row.mark === 'failed' ? 'failed' : undefined;
  const transition = text('span', describeRow(row));
  if (badge !== undefined) transition.append(text('span', badge, 'badge'));
  element.append(
    text('span', formatTime(row.ts)),
    text('span', `${row.pid} ${role === 'daemon' ? 'd' : 'c'}`),
    text('span', row.chart),
    text('span', row.actor),
    transition,
    text('span', row.event ?? ''),
  );
  element.title = `${row.name} · ${role} pid ${row.pid} · ${describeRow(row)}${row.event ? ` on ${row.event}` : ''}`;
  return element;
}

function drawTimeline(): void {
  shown ??= filtered();
  const container = $<HTMLElement>('#rows');
  const spacer = $<HTMLElement>('#spacer');
  spacer.style.height = `${shown.length * ROW_HEIGHT}px`;
  $<HTMLElement>('#count').textContent = `${shown.length} of ${store.size} records`;
  container.dataset.rows = String(shown.length);
  const first = Math.max(0, Math.floor(container.scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(shown.length, Math.ceil((container.scrollTop + container.clientHeight) / ROW_HEIGHT) + OVERSCAN);
  const elements: Node[] = [spacer];
  for (let index = first; index < last; index++) elements.push(rowElement(shown[index]!, index));
  container.replaceChildren(...elements);
}

async function loadDrawings(): Promise<void> {
  await Promise.all(
    CHARTS.map(async (chart) => {
      const response = await fetch(`diagrams/${chart}.svg`);
      if (!response.ok) return;
      const parsed = new DOMParser().parseFromString(await response.text(), 'image/svg+xml').documentElement;
      if (!(parsed instanceof SVGSVGElement)) return;
      const svg = document.importNode(parsed, true);
      svg.removeAttribute('width');
      svg.removeAttribute('height');
      $<HTMLElement>(`figure[data-chart="${chart}"] .drawing`).replaceChildren(svg);
      drawings.set(chart, svg);
    }),
  );
  schedule();
}

function connect(): void {
  const link = $<HTMLElement>('#link');
  const events = new EventSource('events');
  events.addEventListener('open', () => {
    link.dataset.state = 'live';
    link.textContent = 'live';
  });
  events.addEventListener('error', () => {
    link.dataset.state = 'lost';
    link.textContent = 'reconnecting';
  });
  events.addEventListener('snapshot', (event) => {
    const snapshot = JSON.parse((event as MessageEvent<string>).data) as Snapshot;
    store = new InspectorStore(false);
    for (const pid of snapshot.daemonPids) store.addDaemonPid(pid);
    store.applyDelta(snapshot);
    shown = undefined;
    schedule();
  });
  events.addEventListener('delta', (event) => {
    store.applyDelta(JSON.parse((event as MessageEvent<string>).data));
    shown = undefined;
    schedule();
  });
}

$<HTMLFormElement>('#filters').addEventListener('input', () => {
  shown = undefined;
  schedule();
});
$<HTMLElement>('#rows').addEventListener('scroll', schedule, { passive: true });
// Durations and the "new" mark age even when nothing arrives.
setInterval(schedule, 1000);
connect();
void loadDrawings();
