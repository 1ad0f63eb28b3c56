/**
 * Printing and coercing a proxy to a real daemon, in a process of its own under Node's default
 * behaviour, where one unhandled rejection ends the process with exit code 1: it exits 0,
 * prints `Remote<name>`, starts no call (the daemon counts only the real ones), and a hosted
 * `toJSON`/`inspect` stays reachable.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DIST_INDEX, service } from '../support/clients.js';
import { FIXTURES } from '../support/daemon.js';

const run = promisify(execFile);
const PRINTABLE = `${pathToFileURL(join(FIXTURES, 'printable.mjs')).href}:Printable`;

describe('a proxy printed and coerced in a real process', () => {
  it('exits 0 with no unhandled rejection, shows Remote<name>, and calls nothing', async () => {
    const svc = service({}, PRINTABLE, 'printable');
    const spec = { dist: DIST_INDEX, factory: PRINTABLE, runtimeDir: dirname(svc.paths.dir) };
    const { stdout, stderr } = await run(process.execPath, [join(FIXTURES, 'print-proxy.mjs'), JSON.stringify(spec)], { timeout: 20_000 });
    const seen = JSON.parse(stdout.trim()) as Record<string, unknown>;
    const pid = (await svc.ping()).pid;
    expect(stderr).toBe(`Remote<printable> { state: 'connected', pid: ${pid} }\n`);
    expect(seen).toMatchObject({
      inc: 1,
      string: 'Remote<printable>',
      template: 'Remote<printable>',
      plus: 'Remote<printable>',
      json: '{"proxy":"Remote<printable>"}',
      inspect: `Remote<printable> { state: 'connected', pid: ${pid} }`,
      nested: '{ a: { b: { c: Remote<printable> } } }',
      hostedToJSON: { count: 1 },
      hostedInspect: 'hosted inspect: 1',
      toStringByName: 'ERR_METHOD_NOT_ALLOWED',
      closed: `Remote<printable> { state: 'disposed', pid: ${pid} }`,
    });
    expect(seen.colors).toContain('\u001b[');
    expect(seen.format).toMatch(/^Remote<printable>/);
    expect(seen.format).toMatch(/\|"Remote<printable>"$/);
    // inc, the hosted toJSON and inspect: printing started no call of its own.
    expect(seen.callsServed).toBe(3);
  });
});
