// The medians of several `npm run bench -- --peers --json` runs, as the Markdown table the
// README and docs/PERFORMANCE.md quote. Usage:
//   node scripts/bench/peers/summary.mjs run1.json run2.json run3.json
// Each figure is the median of the runs' medians; a lead is recomputed from those medians
// (the library / the best peer on the same transport for rates, the best peer / the library
// for times: >= 1.00 means the library leads).
import { readFileSync } from 'node:fs';

const runs = process.argv.slice(2).map((file) => JSON.parse(readFileSync(file, 'utf8')));
if (runs.length === 0 || runs.some((run) => run.peers !== true)) {
  process.stderr.write('usage: node scripts/bench/peers/summary.mjs <--peers --json output>...\n');
  process.exit(2);
}
const median = (values) => {
  const sorted = values.filter((v) => v != null).sort((a, b) => a - b);
  if (sorted.length === 0) return null;
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const { sides } = runs[0];
const int = (v) => (v == null ? '-' : Math.round(v).toLocaleString('en-US'));
const lines = [`| figure | ${sides.map((s) => s.label).join(' | ')} | lead, TCP | lead, Unix socket |`, `|${' --- |'.repeat(sides.length + 3)}`];
for (const row of runs[0].rows) {
  // By key: a run of some figures only (PEERS_ROWS) has fewer rows.
  const medians = Object.fromEntries(sides.map((s) => [s.key, median(runs.map((run) => run.rows.find((r) => r.key === row.key)?.medians[s.key]))]));
  const cell = (key) => {
    const v = medians[key];
    if (v == null) return '-';
    if (row.unit === 'ms') return v.toFixed(2);
    return row.size ? `${int(v)} (${((v * row.size) / 1024 / 1024).toFixed(0)} MiB/s)` : int(v);
  };
  const lead = (ours, transport) => {
    const peers = sides.filter((s) => s.transport === transport && !s.key.startsWith('library') && !s.reference && medians[s.key] != null);
    if (peers.length === 0 || medians[ours] == null) return '-';
    const best = peers.reduce((a, b) => ((row.higher ? medians[b.key] > medians[a.key] : medians[b.key] < medians[a.key]) ? b : a));
    const ratio = row.higher ? medians[ours] / medians[best.key] : medians[best.key] / medians[ours];
    return `${ratio.toFixed(2)} (${best.label})`;
  };
  lines.push(`| ${row.label} | ${sides.map((s) => cell(s.key)).join(' | ')} | ${lead('libraryTcp', 'tcp')} | ${lead('libraryIpc', 'unix')} |`);
}
const rssOf = { libraryTcp: 'libraryTcp', nodeRedisTcp: 'redis', undici: 'http', python: 'python' };
const rss = sides.map((s) => {
  const v = rssOf[s.key] && median(runs.map((run) => run.serverRssMiB[rssOf[s.key]] ?? null));
  return v == null ? '' : v.toFixed(1);
});
lines.push(`| server RSS after the run + 100k calls, MiB | ${rss.join(' | ')} | | |`);
process.stdout.write(`${lines.join('\n')}\n`);
process.stdout.write(
  `\n${runs.length} run(s): ${runs.map((run) => run.date).join(', ')}; node ${runs[0].versions.node}, redis ${runs[0].versions.redis}, ${runs[0].versions.python}\n`,
);
