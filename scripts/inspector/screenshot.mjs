// The inspector during a real run, for the README: daemons, client processes and the
// `loopback-singleton inspect` process are all real; the page is drawn by headless Chromium
// (Debian's, through playwright-core). Writes docs/inspector.png, then measures how long the
// page takes to show 4 singletons and 10,000 timeline records (PERFORMANCE.md).
//
//   npm run screenshot               (builds first)
//   CHROMIUM_PATH=/path/to/chromium npm run screenshot
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = join(import.meta.dirname, '..', '..');
const DIST = pathToFileURL(join(ROOT, 'dist', 'src', 'index.js')).href;
const CLI = join(ROOT, 'dist', 'src', 'cli', 'main.js');
const COUNTER = `${pathToFileURL(join(import.meta.dirname, 'counter.mjs')).href}:Counter`;
const OUT = join(ROOT, 'docs', 'inspector.png');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const { localSingleton } = await import(DIST);

const children = [];
function run(args, env = {}) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  children.push(child);
  return child;
}

async function inspector(root, extra = []) {
  const child = run([CLI, 'inspect', '--runtime-dir', root, ...extra]);
  let output = '';
  return new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      output += chunk;
      const url = /^inspector: (\S+)$/m.exec(output)?.[1];
      if (url) resolve(url);
    });
    child.once('close', () => reject(new Error(`the inspector exited: ${output}`)));
  });
}

/** A client process: `calls` increments with pauses, then (if `hold`) one call that holds the mailbox. */
function client(root, name, env, calls, hold) {
  const code = `
    const { localSingleton } = await import(${JSON.stringify(DIST)});
    const svc = localSingleton(${JSON.stringify(name)}, ${JSON.stringify(COUNTER)}, { runtimeDir: ${JSON.stringify(root)} });
    const proxy = await svc.proxy();
    for (let i = 0; i < ${calls}; i++) { await proxy.inc(); await new Promise((r) => setTimeout(r, 20)); }
    if (${hold}) await proxy.hold(6000);
    await new Promise((r) => setTimeout(r, 8000));
    await proxy[Symbol.asyncDispose]();`;
  return run(['--input-type=module', '-e', code], env);
}

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const roots = [];
try {
  // 1. The screenshot: one counter, three client processes, one of them in a long call.
  const root = mkdtempSync(join(tmpdir(), 'lbs-shot-'));
  roots.push(root);
  const records = join(root, 'records.ndjson');
  const env = { LOOPBACK_SINGLETON_INSPECT: records };
  const url = await inspector(root, ['--records', records]);
  client(root, 'counter', env, 40, true);
  client(root, 'counter', env, 60, false);
  client(root, 'counter', env, 30, false);
  const page = await browser.newPage({ viewport: { width: 1440, height: 1100 } });
  await page.goto(url);
  await page.waitForSelector('figure[data-chart="daemon"][data-active="serving.busy"]', { timeout: 30_000 });
  await page.waitForSelector('dd[data-figure="running"]:has-text("hold")', { timeout: 30_000 });
  await page.waitForTimeout(600);
  await page.screenshot({ path: OUT, fullPage: true });
  console.log(`wrote ${OUT}`);
  await page.close();

  // 2. The render figure: 4 singletons and 10,000 timeline records, from navigation to drawn.
  const big = mkdtempSync(join(tmpdir(), 'lbs-render-'));
  roots.push(big);
  const names = ['alpha', 'bravo', 'charlie', 'delta'];
  for (const name of names) await (await localSingleton(name, COUNTER, { runtimeDir: big }).proxy()).inc();
  const file = join(big, 'records.ndjson');
  const start = Date.now() - 60_000;
  const lines = Array.from({ length: 10_000 }, (_, i) =>
    JSON.stringify({
      ts: start + i,
      pid: 100_000 + (i % 40),
      area: 'client',
      name: names[i % 4],
      actor: `x:${i % 7}`,
      type: 'transition',
      from: 'discovering',
      to: 'connecting',
      event: 'e',
    }),
  );
  writeFileSync(file, `${lines.join('\n')}\n`);
  const bigUrl = await inspector(big, ['--records', file]);
  // The inspector has read the file before a page asks: what is measured is the page.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const figures = [];
  for (let run = 0; run < 5; run++) {
    const tab = await browser.newPage({ viewport: { width: 1440, height: 1100 } });
    await tab.goto(bigUrl);
    const ms = await tab.evaluate(
      () =>
        new Promise((resolve) => {
          const check = () => {
            const rows = Number(document.querySelector('#rows')?.getAttribute('data-rows'));
            const singletons = document.querySelectorAll('nav button[data-singleton]').length;
            const drawn = document.querySelectorAll('figure.chart svg').length;
            if (rows >= 10_000 && singletons === 4 && drawn === 6) resolve(performance.now());
            else requestAnimationFrame(check);
          };
          check();
        }),
    );
    figures.push(ms);
    await tab.close();
  }
  figures.sort((a, b) => a - b);
  console.log(
    `page with 4 singletons and 10,000 records drawn in ${figures[2].toFixed(0)} ms (median of 5, from navigation; runs: ${figures.map((ms) => ms.toFixed(0)).join(', ')})`,
  );
  for (const name of names) await localSingleton(name, COUNTER, { runtimeDir: big }).shutdown({ force: true });
  await localSingleton('counter', COUNTER, { runtimeDir: root }).shutdown({ force: true });
} finally {
  await browser.close();
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
  for (const root of roots) rmSync(root, { recursive: true, force: true });
}
