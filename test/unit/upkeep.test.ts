import type * as realFs from 'node:fs';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FileUpkeep, type UpkeepHost } from '../../src/daemon/upkeep.js';
import { readMetadata, writeMetadata } from '../../src/runtime/metadata.js';
import { runtimePaths } from '../../src/runtime/paths.js';
import type { DaemonMetadata, RuntimePaths } from '../../src/types.js';

// Counts opens, to see that an unchanged file is not read again.
// And makes every read open fail with an errno while `readError` is set (fd starvation), and
// every read of /proc while `procError` is.
const counts = vi.hoisted(() => ({ opens: 0, readError: undefined as string | undefined, procError: undefined as string | undefined }));
vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof realFs>();
  const fail = (code: string, path: unknown) => Object.assign(new Error(`${code}: simulated, open '${String(path)}'`), { code });
  const openSync = ((...args: Parameters<typeof actual.openSync>) => {
    counts.opens++;
    if (counts.readError !== undefined && typeof args[1] === 'number') throw fail(counts.readError, args[0]);
    // src/runtime/process.ts reads /proc through openSync + readSync.
    if (counts.procError !== undefined && String(args[0]).startsWith('/proc/')) throw fail(counts.procError, args[0]);
    return actual.openSync(...args);
  }) as typeof actual.openSync;
  const readFileSync = ((...args: Parameters<typeof actual.readFileSync>) => {
    if (counts.procError !== undefined && String(args[0]).startsWith('/proc/')) throw fail(counts.procError, args[0]);
    return (actual.readFileSync as (...a: unknown[]) => unknown)(...args);
  }) as typeof actual.readFileSync;
  return { ...actual, default: { ...actual, openSync, readFileSync }, openSync, readFileSync };
});

const SECRET = Buffer.from('cd'.repeat(32), 'latin1');

let temp: string;
let paths: RuntimePaths;
let metadata: DaemonMetadata;
let lines: string[];
let superseded: DaemonMetadata[];
let serving: boolean;

const host: UpkeepHost = {
  isServing: () => serving,
  superseded: (by) => {
    superseded.push(by);
    serving = false;
  },
  rebind: () => Promise.reject(new Error('no socket in these tests')),
  log: (line) => lines.push(line),
};

beforeEach(() => {
  temp = mkdtempSync(join(tmpdir(), 'lbs-upkeep-'));
  paths = runtimePaths(temp, 'svc');
  mkdirSync(paths.dir, { mode: 0o700 });
  metadata = {
    pid: process.pid,
    instanceId: 'a'.repeat(32),
    transport: 'tcp',
    host: '127.0.0.1',
    port: 45678,
    protocolVersion: 1,
    packageVersion: '0.1.0',
    factoryId: 'f',
    startedAt: 1_700_000_000_000,
  };
  writeMetadata(paths.metadata, metadata);
  writeFileSync(paths.token, SECRET, { mode: 0o600 });
  lines = [];
  superseded = [];
  serving = true;
});

afterEach(() => {
  counts.readError = undefined;
  counts.procError = undefined;
  rmSync(temp, { recursive: true, force: true });
});

function upkeep(): FileUpkeep {
  return new FileUpkeep(paths, metadata, SECRET, undefined, host);
}

describe('FileUpkeep: a failed read decides nothing', () => {
  it('EMFILE reading a changed metadata.json and token: nothing is rewritten, the failure is logged once, and the files are read again once readable', () => {
    const keeper = upkeep();
    keeper.check();
    // Changed files (new stamps), which the upkeep must read, but cannot.
    writeFileSync(paths.metadata, '{"pid": 12');
    writeFileSync(paths.token, 'ab'.repeat(32), { mode: 0o600 });
    counts.readError = 'EMFILE';
    for (let i = 0; i < 5; i++) keeper.check();
    counts.readError = undefined;
    expect(readFileSync(paths.metadata, 'utf8')).toBe('{"pid": 12');
    expect(readFileSync(paths.token, 'latin1')).toBe('ab'.repeat(32));
    expect(superseded).toEqual([]);
    expect(lines).toHaveLength(2);
    for (const line of lines) expect(line).toMatch(/^could not read .*; will look again: EMFILE/);
    // Readable again: now it is evidence, and the daemon mends.
    keeper.check();
    expect(readMetadata(paths.metadata)).toEqual({ status: 'valid', metadata });
    expect(readFileSync(paths.token).equals(SECRET)).toBe(true);
  });

  it.runIf(process.platform === 'linux')('a record of another daemon whose process cannot be looked at (EMFILE on /proc) does not make this one step down', () => {
    const keeper = upkeep();
    keeper.check();
    const other = { ...metadata, instanceId: 'b'.repeat(32), pid: process.ppid };
    writeMetadata(paths.metadata, other);
    counts.procError = 'EMFILE';
    keeper.check();
    keeper.check();
    expect(superseded).toEqual([]);
    expect(serving).toBe(true);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/could not tell whether pid \d+, named by metadata.json, runs; will look again: .*EMFILE/);
    counts.procError = undefined;
    keeper.check();
    expect(superseded).toEqual([other]);
  });
});

describe('FileUpkeep', () => {
  it('reads each file once, then only compares stamps while nothing changes', () => {
    const keeper = upkeep();
    keeper.check();
    const opens = counts.opens;
    for (let i = 0; i < 20; i++) keeper.check();
    expect(counts.opens).toBe(opens);
    expect(lines).toEqual([]);
  });

  it('re-reads a file whose stamp changed, and leaves it alone when it is still right', () => {
    const keeper = upkeep();
    keeper.check();
    writeMetadata(paths.metadata, metadata); // same content, new inodes (the record and its copy)
    const opens = counts.opens;
    keeper.check();
    expect(counts.opens).toBe(opens + 2);
    // Unchanged since: no file is opened again.
    keeper.check();
    expect(counts.opens).toBe(opens + 2);
    expect(lines).toEqual([]);
  });

  it('rewrites a vanished or damaged metadata.json, and restores a vanished or replaced token', () => {
    const keeper = upkeep();
    keeper.check();
    rmSync(paths.metadata);
    rmSync(paths.token);
    keeper.check();
    expect(readMetadata(paths.metadata)).toEqual({ status: 'valid', metadata });
    expect(readFileSync(paths.token).equals(SECRET)).toBe(true);
    writeFileSync(paths.metadata, '{"pid": 12');
    writeFileSync(paths.token, 'ab'.repeat(32), { mode: 0o600 });
    keeper.check();
    expect(readMetadata(paths.metadata)).toEqual({ status: 'valid', metadata });
    expect(readFileSync(paths.token).equals(SECRET)).toBe(true);
    expect(lines).toEqual([
      'metadata.json vanished; rewrote it',
      "token vanished; restored this daemon's secret",
      'metadata.json was damaged (not valid JSON (truncated or corrupt)); rewrote it',
      "token was replaced (it holds another secret); restored this daemon's secret",
    ]);
  });

  it('logs a lasting failure once, not on every check', () => {
    const keeper = upkeep();
    rmSync(paths.token);
    mkdirSync(paths.token); // nothing can be renamed over a directory
    writeFileSync(join(paths.token, 'occupant'), 'x');
    for (let i = 0; i < 10; i++) keeper.check();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^token was replaced \(not a regular file \(directory\)\); could not restore it: /);
  });

  it('asks for a re-bind when the socket file is gone, one at a time, and logs a lasting failure once', async () => {
    const ipc: DaemonMetadata = { ...metadata, transport: 'ipc', path: join(paths.dir, 'd-aaaaaaaaaaaa.sock') };
    delete (ipc as { host?: string }).host;
    delete (ipc as { port?: number }).port;
    writeMetadata(paths.metadata, ipc);
    let rebinds = 0;
    let fail!: (error: Error) => void;
    const keeper = new FileUpkeep(paths, ipc, SECRET, 'gone at bind', {
      ...host,
      rebind: () => {
        rebinds++;
        return new Promise((_, reject) => (fail = reject));
      },
    });
    keeper.check();
    keeper.check(); // the first re-bind is still under way
    expect(rebinds).toBe(1);
    for (let i = 0; i < 3; i++) {
      fail(Object.assign(new Error('EADDRINUSE: simulated'), { code: 'EADDRINUSE' }));
      await new Promise((resolve) => setImmediate(resolve));
      keeper.check();
    }
    expect(rebinds).toBe(4);
    expect(lines).toEqual([`could not re-bind the ipc socket ${ipc.path}: EADDRINUSE: simulated`]);
  });

  it('a re-bind that succeeds: logged, the record rewritten to name the socket, and a later failure logged anew', async () => {
    const ipc: DaemonMetadata = { ...metadata, transport: 'ipc', path: join(paths.dir, 'd-aaaaaaaaaaaa.sock') };
    delete (ipc as { host?: string }).host;
    delete (ipc as { port?: number }).port;
    writeMetadata(paths.metadata, ipc);
    const answers: Array<() => Promise<string | undefined>> = [
      () => Promise.reject(Object.assign(new Error('EADDRINUSE: simulated'), { code: 'EADDRINUSE' })),
      () => Promise.resolve(undefined),
      () => {
        // Bound again; meanwhile the record was damaged: it is rewritten.
        writeFileSync(paths.metadata, '{"pid": 1');
        writeFileSync(ipc.path!, '');
        return Promise.resolve('socket-2');
      },
      () => Promise.reject(Object.assign(new Error('EADDRINUSE: simulated'), { code: 'EADDRINUSE' })),
    ];
    let rebinds = 0;
    const keeper = new FileUpkeep(paths, ipc, SECRET, 'gone at bind', { ...host, rebind: () => answers[rebinds++]!() });
    const settle = () => new Promise((resolve) => setImmediate(resolve));
    keeper.check();
    await settle();
    keeper.check(); // resolves undefined: nothing is said, nothing changes
    await settle();
    expect(lines).toEqual([`could not re-bind the ipc socket ${ipc.path}: EADDRINUSE: simulated`]);
    keeper.check();
    await settle();
    expect(rebinds).toBe(3);
    expect(lines.slice(1)).toEqual([`ipc socket ${ipc.path} was deleted or replaced; re-bound it`, 'metadata.json must name the re-bound socket; rewrote it']);
    expect(readMetadata(paths.metadata)).toEqual({ status: 'valid', metadata: ipc });
    // The socket stays as bound ('socket-2' is no file's id): the next check re-binds, fails, and says so again.
    keeper.check();
    await settle();
    expect(rebinds).toBe(4);
    expect(lines.at(-1)).toBe(`could not re-bind the ipc socket ${ipc.path}: EADDRINUSE: simulated`);
    expect(lines).toHaveLength(4);
  });

  it('after a re-bind, a record that names a successor is left for the next check; one that cannot be read is logged', async () => {
    const ipc: DaemonMetadata = { ...metadata, transport: 'ipc', path: join(paths.dir, 'd-aaaaaaaaaaaa.sock') };
    delete (ipc as { host?: string }).host;
    delete (ipc as { port?: number }).port;
    writeMetadata(paths.metadata, ipc);
    const successor = { ...ipc, instanceId: 'b'.repeat(32) };
    let rebinds = 0;
    const keeper = new FileUpkeep(paths, ipc, SECRET, 'gone at bind', {
      ...host,
      rebind: () => {
        rebinds++;
        if (rebinds === 1) writeMetadata(paths.metadata, successor);
        else counts.readError = 'EMFILE';
        return Promise.resolve(`socket-${rebinds}`);
      },
    });
    keeper.check();
    await new Promise((resolve) => setImmediate(resolve));
    expect(readMetadata(paths.metadata)).toEqual({ status: 'valid', metadata: successor });
    expect(lines).toEqual([`ipc socket ${ipc.path} was deleted or replaced; re-bound it`]);
    writeMetadata(paths.metadata, ipc);
    keeper.check();
    await new Promise((resolve) => setImmediate(resolve));
    counts.readError = undefined;
    expect(lines.slice(1)).toEqual([
      `ipc socket ${ipc.path} was deleted or replaced; re-bound it`,
      expect.stringMatching(/^could not read metadata\.json after re-binding; will look again: EMFILE: simulated/),
    ]);
  });

  it('a record that cannot be rewritten is logged once, and logged anew after it was rewritten once', () => {
    const keeper = upkeep();
    keeper.check();
    rmSync(paths.metadata);
    mkdirSync(paths.metadata); // nothing can be renamed over a directory
    writeFileSync(join(paths.metadata, 'occupant'), 'x');
    for (let i = 0; i < 3; i++) keeper.check();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^metadata\.json was damaged \(.*\); could not rewrite it: /);
    rmSync(paths.metadata, { recursive: true });
    keeper.check();
    expect(lines[1]).toBe('metadata.json vanished; rewrote it');
    rmSync(paths.metadata);
    mkdirSync(paths.metadata);
    writeFileSync(join(paths.metadata, 'occupant'), 'x');
    keeper.check();
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(/; could not rewrite it: /);
  });

  it('a token that cannot be restored is logged anew once it was restored in between', () => {
    const keeper = upkeep();
    const occupy = () => {
      rmSync(paths.token, { recursive: true, force: true });
      mkdirSync(paths.token);
      writeFileSync(join(paths.token, 'occupant'), 'x');
    };
    occupy();
    keeper.check();
    rmSync(paths.token, { recursive: true });
    keeper.check();
    occupy();
    keeper.check();
    expect(lines).toEqual([
      expect.stringMatching(/^token was replaced \(not a regular file \(directory\)\); could not restore it: /),
      "token vanished; restored this daemon's secret",
      expect.stringMatching(/^token was replaced \(not a regular file \(directory\)\); could not restore it: /),
    ]);
  });

  it('reports a valid record of another live daemon as superseded and stops there', () => {
    const keeper = upkeep();
    writeMetadata(paths.metadata, { ...metadata, instanceId: 'b'.repeat(32) });
    rmSync(paths.token);
    keeper.check();
    expect(superseded.map((m) => m.instanceId)).toEqual(['b'.repeat(32)]);
    // The files are the successor's now: the token is not touched.
    expect(lines).toEqual([]);
    expect(() => readFileSync(paths.token)).toThrow();
  });
});
