/**
 * The inspector's server (src/inspector/server.ts) against real daemons: what it refuses, what
 * it serves, and what it learns as an observer of a daemon's life (states, calls, a restart, a
 * failure). The page itself, in a real browser: test/browser/inspector.test.ts.
 */
import { request } from 'node:http';
import { describe, expect, it, onTestFinished } from 'vitest';
import { localSingleton } from '../../dist/src/index.js';
import type { Snapshot, SingletonView } from '../../dist/src/inspector/model.js';
import { startInspector, type Inspector } from '../../dist/src/inspector/server.js';
import { IDLE_TEST_START_TIMEOUT_MS, TEST_START_TIMEOUT_MS } from '../support/clients.js';
import { freshRoot, SERVICES_URL, waitForExit } from '../support/daemon.js';
import { eventually, until } from '../support/wait.js';

interface Counter {
  inc(): number;
  hold<T>(ms: number, tag: T): Promise<T>;
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One request to the inspector, with the headers given (Host included: it is what is checked). */
function get(inspector: Inspector, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: inspector.port, path, method, headers }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function inspect(root: string, names?: string[]): Promise<Inspector> {
  const inspector = await startInspector({ root, ...(names ? { names } : {}) });
  onTestFinished(() => inspector.close());
  return inspector;
}

function tokenPath(inspector: Inspector): string {
  return new URL(inspector.url).pathname;
}

function view(inspector: Inspector, name: string): SingletonView | undefined {
  return inspector.store.singleton(name);
}

function daemonState(inspector: Inspector, pid: number | undefined): unknown {
  return inspector.store.actors().find((actor) => actor.chart === 'daemon' && actor.pid === pid)?.state;
}

describe('inspector server', () => {
  it('answers only its own address with the token: a missing or wrong token, a foreign Host or Origin, or a write is refused', async () => {
    const inspector = await inspect(freshRoot());
    const base = tokenPath(inspector);
    const host = `127.0.0.1:${inspector.port}`;
    const ok = await get(inspector, base, { host });
    expect(ok.status).toBe(200);
    expect(ok.headers['content-security-policy']).toContain("default-src 'none'");
    expect(ok.headers['referrer-policy']).toBe('no-referrer');

    expect((await get(inspector, '/', { host })).status).toBe(403);
    expect((await get(inspector, '/events', { host })).status).toBe(403);
    const wrong = `/${'A'.repeat(base.length - 2)}/`;
    expect((await get(inspector, wrong, { host })).status).toBe(403);
    expect((await get(inspector, `${wrong}events`, { host })).status).toBe(403);
    // DNS rebinding: a foreign page's requests carry its own host name.
    expect((await get(inspector, base, { host: `attacker.example:${inspector.port}` })).status).toBe(403);
    expect((await get(inspector, base, { host: '127.0.0.1' })).status).toBe(403);
    expect((await get(inspector, base, { host, origin: 'http://attacker.example' })).status).toBe(403);
    expect((await get(inspector, base, { host, origin: `http://${host}` })).status).toBe(200);
    expect((await get(inspector, base, { host: `localhost:${inspector.port}` })).status).toBe(200);
    expect((await get(inspector, base, { host }, 'POST')).status).toBe(405);
    expect((await get(inspector, `${base}nothing`, { host })).status).toBe(404);
  });

  it('serves everything the page needs itself, with no address elsewhere, and each chart with its states named', async () => {
    const inspector = await inspect(freshRoot());
    const base = tokenPath(inspector);
    const host = `127.0.0.1:${inspector.port}`;
    for (const [path, type] of [
      ['', 'text/html'],
      ['app.css', 'text/css'],
      ['page/app.js', 'text/javascript'],
      ['model.js', 'text/javascript'],
    ]) {
      const answer = await get(inspector, base + path, { host });
      expect(answer.status, path).toBe(200);
      expect(answer.headers['content-type']).toContain(type);
      expect(answer.body, path).not.toMatch(/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}\//i);
    }
    const daemon = await get(inspector, `${base}diagrams/daemon.svg`, { host });
    expect(daemon.headers['content-type']).toBe('image/svg+xml');
    for (const id of ['state:serving.idle', 'state:serving.busy', 'cluster:draining', 'state:stopped', 'state:failed']) expect(daemon.body).toContain(`id="${id}"`);
    const client = await get(inspector, `${base}diagrams/client.svg`, { host });
    expect(client.body).toContain('id="state:locked.spawning"');
    expect((await get(inspector, `${base}diagrams/nothing.svg`, { host })).status).toBe(404);
  });

  it("follows a daemon as an observer: its states, a slow call, its call records, and its restart's new pid", async () => {
    const root = freshRoot();
    const svc = localSingleton<Counter>('followed', `${SERVICES_URL}:Counter`, { runtimeDir: root, startTimeoutMs: TEST_START_TIMEOUT_MS });
    onTestFinished(() => svc.shutdown({ force: true }));
    const proxy = await svc.proxy();
    await proxy.inc();
    const first = (await svc.ping()).pid;
    const inspector = await inspect(root);
    await until(() => view(inspector, 'followed')?.status === 'alive', 'the daemon to be followed');
    // The inspector's own connection is an observer's: one client, and the daemon busy with it.
    await until(() => JSON.stringify(daemonState(inspector, first)) === '{"serving":"busy"}', 'serving.busy');
    expect(view(inspector, 'followed')!.active).toBe(1);
    expect(inspector.store.actors().some((actor) => actor.chart === 'mailbox' && actor.state === 'accepting')).toBe(true);

    const held = proxy.hold(1500, 'held');
    await until(() => view(inspector, 'followed')?.runningMethod === 'hold', 'the running call to be named');
    expect(view(inspector, 'followed')!.runningForMs).toBeTypeOf('number');
    expect(await held).toBe('held');
    await proxy.inc();
    await until(() => (view(inspector, 'followed')?.calls ?? []).some((call) => call.method === 'inc' && call.outcome === 'ok'), 'a call record');
    expect(view(inspector, 'followed')!.calls!.find((call) => call.method === 'hold')).toMatchObject({ outcome: 'ok' });

    process.kill(first, 'SIGKILL');
    await waitForExit(first);
    await until(() => view(inspector, 'followed')?.status === 'gone', 'the daemon to be seen gone');
    // The next call restarts it; the inspector finds the new daemon, and the boot it missed.
    // (A call that meets the loss first fails with ERR_DAEMON_LOST; the one after it restarts.)
    expect(await proxy.inc().catch(() => proxy.inc())).toBe(1);
    let second: number | undefined;
    await until(() => {
      second = view(inspector, 'followed')?.status === 'alive' ? view(inspector, 'followed')!.pid : undefined;
      return second !== undefined && second !== first;
    }, 'the restarted daemon');
    await until(() => inspector.store.rows().some((row) => row.pid === second && row.mark === 'boot'), "the new daemon's boot");
    const booted = inspector.store.rows().filter((row) => row.pid === second && row.chart === 'daemon');
    expect(booted.map((row) => JSON.stringify(row.to))).toContain('{"starting":"booting"}');
    expect(view(inspector, 'followed')!.startReason).toBe('restart');
    // The dead daemon's actors are gone; the new one's are drawn.
    expect(inspector.store.actors().filter((actor) => actor.pid === first)).toEqual([]);
    await svc.shutdown();
    await until(() => view(inspector, 'followed')?.status === 'gone', 'the shut-down daemon to be seen gone');
    expect(JSON.stringify(daemonState(inspector, second))).toMatch(/draining|stopped/);
  });

  it('never keeps a daemon alive: an idle daemon idles out while the inspector watches it', async () => {
    const root = freshRoot();
    const svc = localSingleton<Counter>('idler', `${SERVICES_URL}:Counter`, { runtimeDir: root, idleTtlMs: 300, startTimeoutMs: IDLE_TEST_START_TIMEOUT_MS });
    onTestFinished(() => svc.shutdown({ force: true }));
    const proxy = await svc.proxy();
    await proxy.inc();
    const { pid } = await svc.ping();
    const inspector = await inspect(root, ['idler']);
    await until(() => view(inspector, 'idler')?.status === 'alive', 'the daemon to be followed');
    await proxy[Symbol.asyncDispose]();
    await waitForExit(pid, 20_000);
    await until(() => view(inspector, 'idler')?.status === 'gone', 'the idle exit to be seen', 20_000);
    expect(view(inspector, 'idler')!.logTail!.join('\n')).toContain('idle');
  });

  it('marks a stopped daemon unresponsive while it does not answer, and alive again once it does', async () => {
    const root = freshRoot();
    const svc = localSingleton<Counter>('frozen', `${SERVICES_URL}:Counter`, { runtimeDir: root, startTimeoutMs: TEST_START_TIMEOUT_MS });
    onTestFinished(() => svc.shutdown({ force: true }));
    await (await svc.proxy()).inc();
    const { pid } = await svc.ping();
    const inspector = await inspect(root, ['frozen']);
    await until(() => view(inspector, 'frozen')?.status === 'alive', 'the daemon to be followed');
    process.kill(pid, 'SIGSTOP');
    onTestFinished(() => process.kill(pid, 'SIGCONT'));
    await until(() => view(inspector, 'frozen')?.status === 'unresponsive', 'the stall to be seen', 20_000);
    expect(view(inspector, 'frozen')!.detail).toBe(`pid ${pid} has not answered for 2 s`);
    process.kill(pid, 'SIGCONT');
    await until(() => view(inspector, 'frozen')?.status === 'alive', 'the answer to be seen', 20_000);
    expect(view(inspector, 'frozen')!.detail).toBeUndefined();
  });

  it('shows why a daemon could not start: the failure its log ends with', async () => {
    const root = freshRoot();
    const inspector = await inspect(root, ['broken']);
    await until(() => view(inspector, 'broken')?.status === 'absent', 'the singleton to be looked at');
    const svc = localSingleton('broken', `${SERVICES_URL}:Throws`, { runtimeDir: root, startTimeoutMs: TEST_START_TIMEOUT_MS });
    await expect(svc.proxy()).rejects.toMatchObject({ code: 'ERR_FACTORY' });
    await until(() => (view(inspector, 'broken')?.logTail ?? []).some((line) => line.includes('failed (ERR_FACTORY)')), 'the failure in the log tail');
  });

  it('keeps the snapshot a page starts from in step with the store', async () => {
    const root = freshRoot();
    const svc = localSingleton<Counter>('snap', `${SERVICES_URL}:Counter`, { runtimeDir: root, startTimeoutMs: TEST_START_TIMEOUT_MS });
    onTestFinished(() => svc.shutdown({ force: true }));
    await (await svc.proxy()).inc();
    const inspector = await inspect(root);
    await until(() => view(inspector, 'snap')?.status === 'alive', 'the daemon to be followed');
    // The daemon's history arrives over its inspection topic after the connection that made it
    // `alive`: on a loaded machine, a moment later.
    let snapshot!: Snapshot;
    await eventually(async () => {
      const answer = await get(inspector, `${tokenPath(inspector)}snapshot.json`, { host: `127.0.0.1:${inspector.port}` });
      snapshot = JSON.parse(answer.body) as Snapshot;
      return snapshot.rows.length > 0;
    }, 'the daemon history in the snapshot');
    expect(snapshot.singletons.map((singleton) => singleton.name)).toEqual(['snap']);
    expect(snapshot.daemonPids).toContain((await svc.ping()).pid);
  });
});
