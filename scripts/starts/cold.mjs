// The cold start of one proxy(): a fresh process, a fresh runtime dir, no daemon; the time
// from spawning the client process to its first reply. Usage:
//   node scripts/starts/cold.mjs [runs=10] [client=../bench/cold-client.mjs]
// Prints the median and the spread in ms. Each daemon idles out 500 ms after its client left.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';

const runs = Number(process.argv[2] ?? 10);
const client = process.argv[3] ?? fileURLToPath(new URL('../bench/cold-client.mjs', import.meta.url));
const times = [];
for (let i = 0; i < runs; i++) {
  const runtimeDir = mkdtempSync(join(tmpdir(), 'ls-cold-'));
  const spec = JSON.stringify({ runtimeDir, name: 'cold', options: { idleTtlMs: 500 } });
  const t0 = performance.now();
  const out = spawnSync(process.execPath, [client, spec], { encoding: 'utf8' });
  times.push(performance.now() - t0);
  if (out.stdout.trim() !== '1') console.error('unexpected', out.stdout, out.stderr);
  await new Promise((resolve) => setTimeout(resolve, 1200));
  rmSync(runtimeDir, { recursive: true, force: true });
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ runs, medianMs: Math.round(times[runs >> 1]), minMs: Math.round(times[0]), maxMs: Math.round(times.at(-1)) }));
