/**
 * The inspector page in a real browser (headless Chromium), against real daemons and the real
 * `loopback-singleton inspect` process: what a user debugging a singleton sees, checked in the DOM.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { localSingleton, type LocalSingletonService } from '../../dist/src/index.js';
import { launchChromium, startInspectorCli } from '../support/browser.js';
import { DIST_INDEX, TEST_START_TIMEOUT_MS } from '../support/clients.js';
import { FIXTURES, freshRoot, SERVICES_URL, waitForExit } from '../support/daemon.js';
import { eventually } from '../support/wait.js';

interface Counter {
  inc(): number;
  hold<T>(ms: number, tag: T): Promise<T>;
}

/** Waits for the page; a generous deadline: a loaded machine is slow, never wrong. */
const SEEN = { timeout: 20_000 } as const;

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

async function open(url: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  onTestFinished(async () => {
    await page.close();
    expect(errors, 'errors thrown in the page').toEqual([]);
  });
  await page.goto(url);
  return page;
}

function counter(root: string, name: string): LocalSingletonService<Counter> {
  const svc = localSingleton<Counter>(name, `${SERVICES_URL}:Counter`, { runtimeDir: root, idleTtlMs: 60_000, startTimeoutMs: TEST_START_TIMEOUT_MS });
  onTestFinished(() => svc.shutdown({ force: true }));
  return svc;
}

/** A client process calling `name` as fast as it can (test/fixtures/load.mjs) until stopped. */
function startLoad(runtimeDir: string, name: string): { stop(): Promise<{ calls: number; errors: number }> } {
  const spec = { dist: DIST_INDEX, runtimeDir, name, factory: `${SERVICES_URL}:Counter`, options: { startTimeoutMs: TEST_START_TIMEOUT_MS } };
  const child = spawn(process.execPath, [join(FIXTURES, 'load.mjs'), JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return {
    async stop() {
      child.kill('SIGTERM');
      await exited;
      return JSON.parse(output.trim().split('\n').pop()!) as { calls: number; errors: number };
    },
  };
}

const daemonChart = (active: string) => `figure[data-chart="daemon"][data-active="${active}"]`;

describe('inspector page', () => {
  it('marks the daemon chart live: serving.idle, serving.busy while a slow call runs, then draining or stopped after shutdown()', async () => {
    const root = freshRoot();
    const svc = counter(root, 'live');
    const first = await svc.proxy();
    await first.inc();
    await first[Symbol.asyncDispose]();
    const page = await open(await startInspectorCli(root));

    await page.waitForSelector(daemonChart('serving.idle'), SEEN);
    await page.waitForSelector('figure[data-chart="daemon"] [id="state:serving.idle"].lbs-active', SEEN);
    expect(await page.locator('figure[data-chart="daemon"] [id="state:serving.busy"].lbs-active').count()).toBe(0);
    expect(await page.locator('dd[data-figure="connections"]').textContent()).toBe('0');

    const proxy = await svc.proxy();
    const held = proxy.hold(2000, 'done');
    await page.waitForSelector(daemonChart('serving.busy'), SEEN);
    await page.waitForSelector('figure[data-chart="daemon"] [id="state:serving.busy"].lbs-active', SEEN);
    await page.waitForSelector('dd[data-figure="running"]:has-text("hold")', SEEN);
    expect(await page.locator('dd[data-figure="connections"]').textContent()).toBe('1');
    expect(await held).toBe('done');

    await svc.shutdown();
    await page.waitForSelector(`${daemonChart('stopped')}, figure[data-chart="daemon"][data-active^="draining."]`, SEEN);
    await page.waitForSelector('nav button[data-singleton="live"][data-status="gone"]', SEEN);
  });

  it('shows a forced restart in the timeline: the boot of a daemon with a new pid', async () => {
    const root = freshRoot();
    const svc = counter(root, 'restarted');
    const proxy = await svc.proxy();
    await proxy.inc();
    const before = (await svc.ping()).pid;
    const page = await open(await startInspectorCli(root));
    await page.waitForSelector(`nav button[data-singleton="restarted"][data-status="alive"]:has-text("pid ${before}")`, SEEN);

    process.kill(before, 'SIGKILL');
    await waitForExit(before);
    await page.waitForSelector('nav button[data-singleton="restarted"][data-status="gone"]', SEEN);
    expect(await proxy.inc().catch(() => proxy.inc())).toBe(1);
    const after = (await svc.ping()).pid;
    expect(after).not.toBe(before);
    await page.waitForSelector(`#rows .row[data-mark="boot"][data-pid="${after}"]`, SEEN);
    await page.waitForSelector(`nav button[data-singleton="restarted"][data-status="alive"]:has-text("pid ${after}")`, SEEN);
    await page.waitForSelector('dd[data-figure="start reason"]:has-text("restart")', SEEN);
    // Filtered on the new pid, the timeline holds its rows only.
    await page.fill('input[name="pid"]', String(after));
    await eventually(
      async () => (await page.locator('#rows .row').evaluateAll((rows) => rows.map((row) => (row as HTMLElement).dataset.pid))).every((pid) => pid === String(after)),
      'the pid filter',
    );
  });

  it('draws 4 singletons and 10,000 timeline records, keeping only the rows in view in the DOM', async () => {
    const root = freshRoot();
    const names = ['alpha', 'bravo', 'charlie', 'delta'];
    for (const name of names) await (await counter(root, name).proxy()).inc();
    const records = join(root, 'records.ndjson');
    const start = Date.now() - 60_000;
    const lines = Array.from({ length: 10_000 }, (_, i) => {
      const from = i % 2 === 0 ? 'discovering' : 'connecting';
      const to = i % 2 === 0 ? 'connecting' : 'discovering';
      return JSON.stringify({
        ts: start + i,
        pid: 100_000 + (i % 40),
        area: 'client',
        name: names[i % 4],
        actor: `x:${i % 7}`,
        type: 'transition',
        from,
        to,
        event: 'e',
      });
    });
    writeFileSync(records, `${lines.join('\n')}\n`);
    const page = await open(await startInspectorCli(root, ['--records', records]));

    await eventually(async () => (await page.locator('nav button[data-singleton][data-status="alive"]').count()) === 4, 'four live singletons');
    await eventually(async () => Number(await page.locator('#rows').getAttribute('data-rows')) >= 10_000, 'the records in the timeline');
    const drawn = await page.locator('#rows .row').count();
    expect(drawn).toBeGreaterThan(5);
    expect(drawn).toBeLessThan(100);
    expect(await page.locator('#count').textContent()).toMatch(/^\d+ of \d+ records$/);
    // Scrolled to the end, the oldest record is drawn.
    await page.locator('#rows').evaluate((rows) => rows.scrollTo(0, rows.scrollHeight));
    await eventually(async () => (await page.locator(`#rows .row[title*="pid 100000 "]`).count()) > 0, 'the oldest rows after scrolling');
  });

  it('stays responsive while a daemon serves calls as fast as a client can send them', async () => {
    const root = freshRoot();
    const svc = counter(root, 'busy');
    await (await svc.proxy()).inc();
    const page = await open(await startInspectorCli(root));
    await page.waitForSelector('nav button[data-singleton="busy"][data-status="alive"]', SEEN);
    const load = startLoad(root, 'busy');
    const served = async () => Number(await page.locator('dd[data-figure="calls served"]').textContent());
    await eventually(async () => (await served()) > 1000, 'calls to be counted', 60_000);
    const seen = await served();
    // The page still answers input, and its figures still move.
    await page.locator('input[name="chart"][value="daemon"]').uncheck();
    await eventually(async () => (await page.locator('#rows .row[data-chart="daemon"]').count()) === 0, 'the chart filter');
    await eventually(async () => (await served()) > seen, 'the figures to move on', 60_000);
    await page.waitForSelector('dd[data-figure="calls/s"]:not(:has-text("-"))', SEEN);
    const { calls, errors } = await load.stop();
    expect(errors).toBe(0);
    expect(calls).toBeGreaterThan(1000);
  });
});
