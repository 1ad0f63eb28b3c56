/**
 * `loopback-singleton inspect`'s web server: one page on 127.0.0.1 that draws the library's
 * statecharts with each live actor's state marked, a timeline of transitions across processes,
 * and each daemon's figures, updated live over Server-Sent Events.
 *
 * Security: every URL starts with a random token (`/<token>/...`, compared in constant time);
 * the `Host` header must name this server (a page on another site that rebinds its DNS name to
 * 127.0.0.1 sends its own name), an `Origin`, when sent, must be this server's; only GET and
 * HEAD; a strict Content-Security-Policy; no referrer, so the token does not leave the page.
 * Everything the page uses ships in the package: it works with no network.
 *
 * Bounded: the store keeps at most its row and actor caps; a live stream whose tab does not
 * read (more than {@link STREAM_BACKLOG_BYTES} unsent) is closed, and the page reconnects to a
 * fresh snapshot; at most {@link MAX_STREAMS} streams at once.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { singletonNames } from '../cli/probe.js';
import { isProcessAlive } from '../runtime/process.js';
import { DaemonSource } from './daemon-source.js';
import { CHARTS, InspectorStore } from './model.js';
import { PAGE_CSS, pageHtml } from './page.js';
import { RecordsSource } from './records-source.js';

/** A live stream with more than this unsent is closed (its tab is not reading). */
export const STREAM_BACKLOG_BYTES = 1024 * 1024;
/** Live streams served at once; one more is refused with 503. */
export const MAX_STREAMS = 16;
/** How often new singleton directories are looked for (when no names were given). */
const SCAN_INTERVAL_MS = 1000;
/** How often actors of processes that exited without a word are forgotten. */
const PRUNE_INTERVAL_MS = 2000;
/** A comment on each stream, so that a proxy or the browser never times it out. */
const HEARTBEAT_MS = 15_000;

export interface InspectorOptions {
  /** The runtime root whose singletons are shown. */
  readonly root: string;
  /** Only these singletons (default: every one under the root, found as they appear). */
  readonly names?: readonly string[];
  /** TCP port on 127.0.0.1 (default 0: a free one). */
  readonly port?: number;
  /** NDJSON files written through `LOOPBACK_SINGLETON_INSPECT` (the client processes' transitions). */
  readonly records?: readonly string[];
  /** Where a line about the inspector's own faults goes (default: nowhere). */
  readonly log?: (line: string) => void;
}

/** A running inspector. */
export interface Inspector {
  /** The page's address, token included: `http://127.0.0.1:<port>/<token>/`. */
  readonly url: string;
  readonly port: number;
  readonly store: InspectorStore;
  close(): Promise<void>;
}

/** The statechart SVGs, rendered once per process from machines/ (the generator of diagrams/). */
let diagrams: Promise<Map<string, string>> | undefined;

function loadDiagrams(): Promise<Map<string, string>> {
  diagrams ??= import('../diagrams/generate.js').then(async ({ renderDiagrams }) => {
    const files = await renderDiagrams();
    return new Map(CHARTS.map((chart) => [chart, files.get(`${chart}.svg`) ?? '']));
  });
  return diagrams;
}

/** The page's scripts, compiled beside this file. */
function readScript(relative: string): string {
  return readFileSync(new URL(relative, import.meta.url), 'utf8');
}

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
  'cross-origin-resource-policy': 'same-origin',
};

/** Starts an inspector; resolves once it listens. */
export async function startInspector(options: InspectorOptions): Promise<Inspector> {
  const token = randomBytes(24).toString('base64url');
  const tokenBytes = Buffer.from(token);
  const store = new InspectorStore();
  const log = options.log ?? (() => {});
  const scripts = { 'page/app.js': readScript('./page/app.js'), 'model.js': readScript('./model.js') };
  const svgs = loadDiagrams();
  svgs.catch((error: unknown) => log(`could not draw the statecharts: ${(error as Error).message}`));

  const streams = new Set<ServerResponse>();
  let flushTimer: NodeJS.Timeout | undefined;
  const flush = () => {
    flushTimer = undefined;
    const delta = store.takeDelta();
    if (delta === undefined) return;
    const message = `event: delta\ndata: ${JSON.stringify(delta)}\n\n`;
    for (const stream of streams) {
      // A tab that does not read loses its stream, not the server's memory: it reconnects to a snapshot.
      if (stream.writableLength > STREAM_BACKLOG_BYTES) stream.destroy();
      else stream.write(message);
    }
  };
  // Coalesced: every change within a few ms leaves in one message.
  const changed = () => {
    flushTimer ??= setTimeout(flush, 10);
  };

  const server: Server = createServer((request, response) => {
    void handle(request, response);
  });
  let port = 0;

  const refuse = (response: ServerResponse, status: number, text: string) => {
    response.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/plain; charset=utf-8' });
    response.end(`${text}\n`);
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const hosts = [`127.0.0.1:${port}`, `localhost:${port}`];
    if (!hosts.includes(request.headers.host ?? '')) return refuse(response, 403, 'forbidden: this server answers only to its own address (Host)');
    const origin = request.headers.origin;
    if (origin !== undefined && !hosts.some((host) => origin === `http://${host}`)) return refuse(response, 403, 'forbidden: foreign Origin');
    if (request.method !== 'GET' && request.method !== 'HEAD') return refuse(response, 405, 'method not allowed');
    const path = new URL(request.url ?? '/', 'http://inspector').pathname;
    const [, first, ...rest] = path.split('/');
    const given = Buffer.from(first ?? '');
    if (given.length !== tokenBytes.length || !timingSafeEqual(given, tokenBytes)) return refuse(response, 403, 'forbidden: open the address the inspector printed');
    const route = rest.join('/');
    const send = (type: string, body: string) => {
      response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': type });
      response.end(request.method === 'HEAD' ? undefined : body);
    };
    switch (route) {
      case '':
        return send('text/html; charset=utf-8', pageHtml());
      case 'app.css':
        return send('text/css; charset=utf-8', PAGE_CSS);
      case 'page/app.js':
      case 'model.js':
        return send('text/javascript; charset=utf-8', scripts[route]);
      case 'snapshot.json':
        return send('application/json', JSON.stringify(store.snapshot()));
      case 'events':
        return openStream(response);
    }
    const chart = /^diagrams\/([a-z-]+)\.svg$/.exec(route)?.[1];
    if (chart !== undefined && (CHARTS as readonly string[]).includes(chart)) {
      try {
        return send('image/svg+xml', (await svgs).get(chart)!);
      } catch (error) {
        return refuse(response, 500, `could not draw the statechart: ${(error as Error).message}`);
      }
    }
    return refuse(response, 404, 'not found');
  };

  const openStream = (response: ServerResponse) => {
    if (streams.size >= MAX_STREAMS) return refuse(response, 503, 'too many open inspector pages');
    response.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' });
    // Whatever changed before this snapshot is in it: the next delta starts after it.
    flush();
    response.write(`retry: 500\nevent: snapshot\ndata: ${JSON.stringify(store.snapshot())}\n\n`);
    streams.add(response);
    response.on('close', () => streams.delete(response));
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;

  // Listening: now the sources may start (a port in use has failed above, leaving nothing running).
  const named = options.names !== undefined && options.names.length > 0 ? new Set(options.names) : undefined;
  const sources = new Map<string, DaemonSource>();
  const follow = (name: string) => {
    if (sources.has(name)) return;
    const source = new DaemonSource(options.root, name, store, changed);
    sources.set(name, source);
    void source.run();
  };
  const scan = () => {
    try {
      for (const name of named ?? singletonNames(options.root)) follow(name);
    } catch (error) {
      log(`could not list ${options.root}: ${(error as Error).message}`);
    }
  };
  scan();
  const scanner = named === undefined ? setInterval(scan, SCAN_INTERVAL_MS) : undefined;
  const files = (options.records ?? []).map((file) => new RecordsSource(file, store, changed, (name) => named === undefined || named.has(name)));
  for (const file of files) file.start();
  // A client process killed without a word leaves actors that no record will ever stop. (A
  // daemon's stay where they last stood until the next daemon of their singleton: ./daemon-source.ts.)
  const pruner = setInterval(() => {
    const pids = new Set(store.actors().map((actor) => actor.pid));
    for (const pid of pids) if (!store.daemonPids.has(pid) && !isProcessAlive(pid)) store.forgetProcess(pid);
    changed();
  }, PRUNE_INTERVAL_MS);
  const heartbeat = setInterval(() => {
    for (const stream of streams) stream.write(': keep-alive\n\n');
  }, HEARTBEAT_MS);

  return {
    url: `http://127.0.0.1:${port}/${token}/`,
    port,
    store,
    close: async () => {
      clearInterval(scanner);
      clearInterval(pruner);
      clearInterval(heartbeat);
      clearTimeout(flushTimer);
      for (const file of files) file.stop();
      for (const source of sources.values()) source.stop();
      for (const stream of streams) stream.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
