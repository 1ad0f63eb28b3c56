/**
 * The inspector page's HTML shell and stylesheet. The page's code is ./page/app.ts (compiled for
 * the browser by src/inspector/page/tsconfig.json), which shares ./model.ts with the server.
 * Nothing is loaded from anywhere but the inspector itself.
 */
import { CHARTS } from './model.js';

/** The page: its structure only; app.js fills it from the live stream. */
export function pageHtml(): string {
  const charts = CHARTS.map(
    (chart) =>
      `<figure class="chart" data-chart="${chart}" data-active=""><figcaption><b>${chart}</b> <span class="where"></span></figcaption><div class="drawing"></div></figure>`,
  ).join('\n');
  const filters = CHARTS.map((chart) => `<label><input type="checkbox" name="chart" value="${chart}" checked> ${chart}</label>`).join(' ');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>loopback-singleton inspector</title>
<link rel="stylesheet" href="app.css">
</head>
<body>
<header>
<h1>loopback-singleton inspector</h1>
<span id="link" data-state="connecting">connecting</span>
</header>
<nav id="singletons" aria-label="Singletons"><p class="empty">No singleton yet under this runtime root.</p></nav>
<main>
<section id="figures" aria-label="Daemon"></section>
<section id="charts" aria-label="Statecharts">
${charts}
</section>
<section id="timeline" aria-label="Timeline">
<h2>Timeline <span id="count"></span></h2>
<form id="filters">
${filters}
<label>pid <input type="text" name="pid" inputmode="numeric" size="8" placeholder="any"></label>
<label><input type="checkbox" name="selected"> selected singleton only</label>
</form>
<div class="row head"><span>time</span><span>pid</span><span>chart</span><span>actor</span><span>transition</span><span>event</span></div>
<div id="rows" tabindex="0"><div id="spacer"></div></div>
</section>
</main>
<script type="module" src="page/app.js"></script>
</body>
</html>
`;
}

export const PAGE_CSS = `
:root { --ink: #2d3748; --muted: #718096; --line: #e2e8f0; --hot: #b45309; --hot-fill: #fde68a; --bad: #b42318; --ok: #2f855a; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink); background: #f7fafc; }
header { display: flex; align-items: baseline; gap: 1em; padding: 8px 16px; background: #fff; border-bottom: 1px solid var(--line); }
h1 { font-size: 16px; margin: 0; }
h2 { font-size: 14px; margin: 0 0 6px; }
#link { color: var(--muted); }
#link[data-state="live"] { color: var(--ok); }
#link[data-state="lost"] { color: var(--bad); }
nav { display: flex; flex-wrap: wrap; gap: 8px; padding: 8px 16px; }
nav .empty { color: var(--muted); margin: 0; }
nav button { font: inherit; text-align: left; border: 1px solid var(--line); border-radius: 6px; background: #fff; padding: 6px 10px; cursor: pointer; min-width: 180px; }
nav button[aria-pressed="true"] { border-color: var(--ink); box-shadow: 0 0 0 1px var(--ink); }
nav button .status { font-size: 11px; text-transform: uppercase; letter-spacing: .04em; }
nav button[data-status="alive"] .status { color: var(--ok); }
nav button[data-status="gone"] .status, nav button[data-status="stale"] .status, nav button[data-status="unresponsive"] .status { color: var(--bad); }
main { display: grid; grid-template-columns: minmax(280px, 1fr) 3fr; gap: 12px; padding: 0 16px 16px; }
#figures { grid-row: span 2; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px; align-self: start; }
#figures dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 10px; margin: 0 0 8px; }
#figures dt { color: var(--muted); }
#figures dd { margin: 0; font-variant-numeric: tabular-nums; }
.failure, .ended { border: 1px solid var(--bad); border-radius: 4px; padding: 6px; color: var(--bad); margin: 8px 0; }
.ended { border-color: var(--line); color: var(--muted); }
.failure pre, .ended pre { color: var(--ink); white-space: pre-wrap; word-break: break-all; max-height: 240px; overflow: auto; margin: 6px 0 0; font-size: 11px; }
table.calls { border-collapse: collapse; width: 100%; font-size: 12px; }
table.calls td, table.calls th { text-align: left; padding: 1px 4px; border-bottom: 1px solid var(--line); }
#charts { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; }
figure.chart { margin: 0; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 6px; flex: 1 1 340px; max-width: 100%; }
figure.chart[data-chart="daemon"], figure.chart[data-chart="client"] { flex-basis: 560px; }
figure.chart figcaption { margin-bottom: 4px; }
figure.chart .where { color: var(--hot); }
figure.chart .drawing svg { width: 100%; height: auto; max-height: 760px; }
.lbs-active > path, .lbs-active > polygon, .lbs-active > ellipse { fill: var(--hot-fill); stroke: var(--hot); stroke-width: 2.5; }
.lbs-active > text { font-weight: bold; }
.lbs-last > path, .lbs-last > polygon { animation: lbs-pulse 1.2s ease-out 2; }
@keyframes lbs-pulse { from { stroke-width: 7; } to { stroke-width: 2.5; } }
#timeline { grid-column: 2; background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px; }
#filters { display: flex; flex-wrap: wrap; gap: 4px 12px; margin-bottom: 6px; }
.row { display: grid; grid-template-columns: 95px 78px 120px 70px 1fr 170px; gap: 6px; height: 22px; line-height: 22px; white-space: nowrap; overflow: hidden; padding: 0 4px; font-variant-numeric: tabular-nums; }
.row > span { overflow: hidden; text-overflow: ellipsis; }
.row.head { color: var(--muted); border-bottom: 1px solid var(--line); }
#rows { position: relative; height: 420px; overflow-y: auto; contain: strict; }
#rows .row { position: absolute; top: 0; left: 0; right: 0; }
.row[data-mark="boot"] { background: #e6fffa; font-weight: bold; }
.row[data-mark="lock-won"] { background: #ebf8ff; font-weight: bold; }
.row[data-mark="failed"] { background: #fff5f5; color: var(--bad); }
.badge { display: inline-block; font-size: 10px; padding: 0 4px; border-radius: 3px; background: var(--ink); color: #fff; margin-left: 4px; }
`;
