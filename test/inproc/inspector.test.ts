/**
 * The inspector's server (src/inspector/server.ts, ./daemon-source.ts) in this process against
 * a daemon served in this process (test/support/in-process.ts): what it serves to whom, and
 * what it learns of the daemon. The page itself is tested in Chromium (test/browser/).
 */
import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { localSingleton } from '../../src/client/service.js';
import { type Inspector, startInspector } from '../../src/inspector/server.js';
import type { Snapshot } from '../../src/inspector/views.js';
import { daemons, makeRoot, removeRoot, SERVICES, stopInProcessDaemons } from '../support/in-process.js';

vi.mock('../../src/client/daemon-process.js', async (load) => ({
  ...(await load<typeof import('../../src/client/daemon-process.js')>()),
  spawnDaemonProcess: (await import('../support/in-process.js')).spawnInProcess,
}));

// The page's scripts are compiled beside the server in dist/; from src/ they are stand-ins.
vi.mock('node:fs', async (load) => {
  const fs = await load<typeof import('node:fs')>();
  const readFileSync = ((path: unknown, ...rest: unknown[]) => {
    const text = String(path);
    if (text.endsWith('/src/inspector/page/app.js')) return '// the page script';
    if (text.endsWith('/src/inspector/model.js')) return '// the model script';
    return (fs.readFileSync as (...args: unknown[]) => unknown)(path, ...rest);
  }) as typeof fs.readFileSync;
  return { ...fs, default: { ...fs, readFileSync }, readFileSync };
});

interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One request with the headers a test chooses (fetch would not send a foreign Host). */
function get(url: string, { method = 'GET', headers = {} as Record<string, string>, firstChunk = false } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        if (firstChunk) {
          response.destroy();
          resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') });
        }
      });
      response.on('end', () => resolve({ status: response.statusCode!, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Under a loaded machine (a mutation run) the inspector may take a while to learn things. */
const WAIT = { timeout: 10_000, interval: 50 };

let root: string;
let inspector: Inspector | undefined;
beforeEach(() => {
  root = makeRoot('lbs-inspector-');
});
afterEach(async () => {
  await inspector?.close();
  inspector = undefined;
  await stopInProcessDaemons();
  removeRoot(root);
});

describe('the inspector server', () => {
  it('serves its page, styles, scripts and snapshot only at its token, to its own Host and Origin', async () => {
    inspector = await startInspector({ root, names: ['svc'] });
    const { url, port } = inspector;
    expect(url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${port}/[\\w-]{32}/$`));
    const page = await get(url);
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("default-src 'none'");
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.body).toContain('<html');
    expect(await get(`${url}app.css`)).toMatchObject({ status: 200, headers: { 'content-type': 'text/css; charset=utf-8' } });
    expect(await get(`${url}page/app.js`)).toMatchObject({ status: 200, body: '// the page script', headers: { 'content-type': 'text/javascript; charset=utf-8' } });
    expect(await get(`${url}model.js`)).toMatchObject({ status: 200, body: '// the model script' });
    expect(await get(url, { method: 'HEAD' })).toMatchObject({ status: 200, body: '' });

    const wrongToken = await get(`http://127.0.0.1:${port}/${'x'.repeat(32)}/`);
    expect(wrongToken).toMatchObject({ status: 403, body: 'forbidden: open the address the inspector printed\n' });
    expect(await get(`http://127.0.0.1:${port}/`)).toMatchObject({ status: 403 });
    expect(await get(url, { headers: { host: `evil.example:${port}` } })).toMatchObject({
      status: 403,
      body: 'forbidden: this server answers only to its own address (Host)\n',
    });
    expect(await get(url, { headers: { host: `localhost:${port}` } })).toMatchObject({ status: 200 });
    expect(await get(url, { headers: { origin: 'http://evil.example' } })).toMatchObject({ status: 403, body: 'forbidden: foreign Origin\n' });
    expect(await get(url, { headers: { origin: `http://127.0.0.1:${port}` } })).toMatchObject({ status: 200 });
    expect(await get(url, { method: 'POST' })).toMatchObject({ status: 405, body: 'method not allowed\n' });
    expect(await get(`${url}nope`)).toMatchObject({ status: 404, body: 'not found\n' });
    expect(await get(`${url}diagrams/nope.svg`)).toMatchObject({ status: 404 });
    const svg = await get(`${url}diagrams/mailbox.svg`);
    expect(svg).toMatchObject({ status: 200, headers: { 'content-type': 'image/svg+xml' } });
    expect(svg.body).toContain('<svg');
    expect(svg.body).toContain('draining');
  });

  it('follows a named daemon as an observer: its snapshot and event stream show it alive with its pid', async () => {
    const svc = localSingleton<{ inc(): number }>('svc', `${SERVICES}:Counter`, { runtimeDir: root });
    const counter = await svc.proxy();
    expect(await counter.inc()).toBe(1);
    inspector = await startInspector({ root, names: ['svc'] });
    const { url } = inspector;
    await vi.waitFor(async () => {
      const snapshot = JSON.parse((await get(`${url}snapshot.json`)).body) as Snapshot;
      expect(snapshot.singletons).toEqual([expect.objectContaining({ name: 'svc', status: 'alive', pid: process.pid, transport: 'tcp', active: 1 })]);
      expect(snapshot.daemonPids).toContain(process.pid);
    }, WAIT);
    const stream = await get(`${url}events`, { firstChunk: true });
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(stream.body).toMatch(/^retry: 500\nevent: snapshot\ndata: \{/);
    expect(stream.body).toContain('"name":"svc"');

    // The daemon goes away: the inspector keeps its last figures, marked gone.
    daemons()[0]!.daemon!.shutdownRequested(true);
    await daemons()[0]!.outcome;
    await vi.waitFor(async () => {
      const snapshot = JSON.parse((await get(`${url}snapshot.json`)).body) as Snapshot;
      expect(snapshot.singletons).toEqual([expect.objectContaining({ name: 'svc', status: 'gone', pid: process.pid })]);
    }, WAIT);
  });

  it('finds singletons under its root when no names are given, and says why one is absent', async () => {
    const svc = localSingleton('lonely', `${SERVICES}:Counter`, { runtimeDir: root });
    await svc.ensureStarted();
    daemons()[0]!.daemon!.shutdownRequested(true);
    await daemons()[0]!.outcome;
    inspector = await startInspector({ root });
    const { url } = inspector;
    await vi.waitFor(async () => {
      const snapshot = JSON.parse((await get(`${url}snapshot.json`)).body) as Snapshot;
      const [view] = snapshot.singletons;
      expect(view).toMatchObject({ name: 'lonely', status: 'absent' });
      expect(view!.logTail!.join('\n')).toContain('state "stopped"');
    }, WAIT);
  });

  it('a port in use fails the start with EADDRINUSE and leaves nothing running', async () => {
    inspector = await startInspector({ root });
    const error = await startInspector({ root, port: inspector.port }).catch((e: unknown) => e);
    expect((error as NodeJS.ErrnoException).code).toBe('EADDRINUSE');
  });
});
