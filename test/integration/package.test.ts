/**
 * The package as a user gets it: the repository's files (as a fresh clone has them) are
 * copied to a temp dir and packed with `npm pack` (its `prepack` builds there), the tarball is
 * installed into a temp consumer project, and the consumer uses it: the README's quick start
 * from 3 processes on one counter, its types, the CLI from the installed bin, `require()`, and
 * what an unhandled call error prints. One pack and one install for the file.
 */
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { localSingleton } from '../../dist/src/index.js';
import { freshRoot } from '../support/daemon.js';
import { writeConsumerTsconfig } from '../support/consumer.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];
/** What an unhandled error may print at most. */
const MAX_ERROR_BYTES = 4096;

/** The repository's files as a clone has them (tracked and new, not ignored), else undefined. */
function cloneFiles(): string[] | undefined {
  try {
    const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], { cwd: ROOT, encoding: 'utf8' });
    return out.split('\0').filter((file) => file.length > 0 && existsSync(join(ROOT, file)));
  } catch {
    return undefined;
  }
}

let consumer = '';
let installed = '';

beforeAll(async () => {
  const work = realpathSync(mkdtempSync(join(inject('suiteRoot'), 'package-')));
  // A fresh clone: no dist/. Its prepack builds it (with this checkout's dev dependencies).
  const clone = join(work, 'clone');
  const files = cloneFiles();
  if (files === undefined) throw new Error('git ls-files failed: the package test needs the repository checkout');
  for (const file of files) cpSync(join(ROOT, file), join(clone, file), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(clone, 'node_modules'), 'dir');
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work, ...NPM_FLAGS], { cwd: clone, maxBuffer: 16 * 1024 * 1024 });
  const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as [{ filename: string; files: { path: string }[] }];
  const shipped = packed.files.map((file) => file.path);
  expect(shipped).toContain('dist/src/index.js');
  expect(shipped).toContain('dist/src/daemon/main.js');
  expect(shipped).toContain('dist/src/index.d.ts');
  expect(shipped).toContain('src/index.ts'); // what the source and declaration maps point at
  expect(shipped.filter((path) => /^(test|scripts)\//.test(path))).toEqual([]);

  consumer = join(work, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), `${JSON.stringify({ name: 'consumer', private: true, type: 'module' })}\n`);
  await run('npm', ['install', join(work, packed.filename), ...NPM_FLAGS], { cwd: consumer });
  installed = join(consumer, 'node_modules', 'loopback-singleton');
}, 300_000);

/** Stops the daemon of `name` in `runtimeDir` when the test ends (through this checkout's build). */
function stopAtEnd(name: string, factory: string, runtimeDir: string): void {
  onTestFinished(() => localSingleton(name, factory, { runtimeDir }).shutdown({ force: true }));
}

/** Every absolute file path named in `text` (plain or file: URL). */
function absolutePaths(text: string): string[] {
  return [...text.matchAll(/(?<![\w.:/-])(?:file:\/\/)?(\/(?:[\w.@+-]+\/)+[\w.@+-]+)/g)].map((match) => match[1]!);
}

describe('the packed package, installed in a consumer project', () => {
  it('runs the README quick start from 3 processes on one counter, type-checked against the installed types', { timeout: 90_000 }, async () => {
    const blocks = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const project = join(consumer, 'quick-start');
    mkdirSync(project);
    writeFileSync(join(project, 'services.ts'), blocks[0]!);
    writeFileSync(join(project, 'app.ts'), blocks[1]!);
    writeConsumerTsconfig(project);
    // Resolves 'loopback-singleton' to node_modules/loopback-singleton: its d.ts files.
    await run(process.execPath, [TSC, '-p', project]);
    const runtimeDir = freshRoot();
    stopAtEnd('my-counter', join(project, 'out', 'services.js:Counter'), runtimeDir);
    const env = { ...process.env, LOOPBACK_SINGLETON_RUNTIME_DIR: runtimeDir };
    const runs = await Promise.all([1, 2, 3].map(() => run(process.execPath, [join(project, 'out', 'app.js')], { env, cwd: project })));
    // Counter(10, { step: 2 }): the three increments, in whatever order the processes came.
    const firsts = runs.map(({ stdout }) => stdout.split('\n')[0]).sort();
    expect(firsts).toEqual(['12', '14', '16']);
    for (const { stdout } of runs) expect(stdout.split('\n')[1]).toBe('pong');
    // The daemon runs the installed copy, not this checkout.
    const log = readFileSync(join(runtimeDir, 'my-counter', 'daemon.log'), 'utf8');
    expect(log).not.toContain(ROOT);
  });

  it('runs the CLI from the installed bin', async () => {
    const { stdout } = await run('npx', ['--no-install', 'loopback-singleton', '--help'], { cwd: consumer });
    expect(stdout).toMatch(/^Usage: loopback-singleton <command>/);
  });

  it('serves the inspector page from the installed package: its scripts and statecharts ship in it', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [join(installed, 'dist', 'src', 'cli', 'main.js'), 'inspect', '--runtime-dir', freshRoot()], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('close', resolve));
    onTestFinished(async () => {
      child.kill('SIGINT');
      await exited;
    });
    let output = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        output += chunk;
        const found = /^inspector: (\S+)$/m.exec(output)?.[1];
        if (found) resolve(found);
      });
      void exited.then(() => reject(new Error(`the inspector exited: ${output}`)));
    });
    for (const path of ['', 'app.css', 'page/app.js', 'model.js', 'diagrams/daemon.svg', 'diagrams/client-handshake.svg']) {
      const answer = await fetch(new URL(path, url));
      expect(answer.status, path).toBe(200);
      expect((await answer.text()).length, path).toBeGreaterThan(100);
    }
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('require() gives the same module as import where Node has require(esm), else a clear error', async () => {
    const script = [
      'let required;',
      'try { required = require("loopback-singleton"); } catch (error) { console.log(JSON.stringify({ error: error.message, code: error.code })); process.exit(0); }',
      'import("loopback-singleton").then((imported) => console.log(JSON.stringify({',
      '  same: Object.keys(imported).every((key) => imported[key] === required[key]) && Object.keys(imported).length === Object.keys(required).length,',
      '  count: Object.keys(imported).length,',
      '})));',
    ].join('\n');
    const { stdout } = await run(process.execPath, ['-e', script], { cwd: consumer });
    const result = JSON.parse(stdout);
    if ((process.features as { require_module?: boolean }).require_module === true) {
      expect(result).toEqual({ same: true, count: expect.any(Number) });
      expect(result.count).toBeGreaterThan(10);
    } else {
      expect(result.code).toBe('ERR_REQUIRE_ESM');
      expect(result.error).toMatch(/20\.19\+, 22\.12\+ or 24\+.*import\(/);
    }
  });

  it.each([[[]], [['--enable-source-maps']]])('an unhandled call error (node %j) prints < 4 KB, naming only paths of the consumer project', async (flags) => {
    const dir = join(consumer, `fails${flags.length}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'services.mjs'), 'export class Boom {\n  fail() {\n    throw new RangeError("boom from the hosted object");\n  }\n}\n');
    writeFileSync(
      join(dir, 'main.mjs'),
      [
        "import { localSingleton } from 'loopback-singleton';",
        "const svc = localSingleton('boom', { module: new URL('./services.mjs', import.meta.url), export: 'Boom' }, { idleTtlMs: 500 });",
        'const boom = await svc.proxy();',
        'await boom.fail();',
        '',
      ].join('\n'),
    );
    const runtimeDir = freshRoot();
    stopAtEnd('boom', join(dir, 'services.mjs:Boom'), runtimeDir);
    const failed = await run(process.execPath, [...flags, join(dir, 'main.mjs')], {
      cwd: dir,
      env: { ...process.env, LOOPBACK_SINGLETON_RUNTIME_DIR: runtimeDir },
    }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(1);
    const stderr = failed!.stderr;
    expect(stderr).toContain('boom from the hosted object');
    expect(stderr).toMatch(/RemoteError/);
    expect(Buffer.byteLength(stderr)).toBeLessThan(MAX_ERROR_BYTES);
    const paths = absolutePaths(stderr);
    // The caller's file and the hosted one, and the installed library's own files.
    expect(paths.some((path) => path.startsWith(`${dir}/`))).toBe(true);
    expect(paths.filter((path) => !path.startsWith(`${consumer}/`))).toEqual([]);
    expect(stderr).not.toContain(ROOT);
    if (flags.length > 0) expect(paths.some((path) => path.startsWith(`${installed}/src/`) && path.endsWith('.ts'))).toBe(true);
  });

  it('installs no etcd client (an optional peer), and the cluster registry says what to install', async () => {
    expect(existsSync(join(consumer, 'node_modules', 'etcd3'))).toBe(false);
    expect(existsSync(join(consumer, 'node_modules', '@grpc'))).toBe(false);
    // The registry is not an export yet: its installed file, imported by path.
    const file = (name: string) => JSON.stringify(pathToFileURL(join(installed, 'dist', 'src', 'registry', name)).href);
    const script = [
      `const { openEtcdRegistry } = await import(${file('etcd.js')});`,
      `const { parseRegistryEndpoints } = await import(${file('endpoints.js')});`,
      "const endpoints = parseRegistryEndpoints('etcd://127.0.0.1:1');",
      "await openEtcdRegistry({ endpoints, name: 'x' }).then(",
      '  () => console.log(JSON.stringify({ opened: true })),',
      '  (error) => console.log(JSON.stringify({ name: error.name, message: error.message, cause: error.cause?.code })),',
      ');',
    ].join('\n');
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: consumer });
    expect(JSON.parse(stdout)).toEqual({
      name: 'LoopbackSingletonError',
      message: "scope 'cluster' needs the etcd client, an optional peer dependency that is not installed: run `npm install etcd3@~1.1.2` in your project",
      cause: 'ERR_MODULE_NOT_FOUND',
    });
    // Through the public API: a service of scope 'cluster' says the same on its first start.
    writeFileSync(join(consumer, 'cluster-service.mjs'), 'export class Counter { inc() { return 1; } }\n');
    const viaService = [
      "const { localSingleton } = await import('loopback-singleton');",
      "const svc = localSingleton('x', './cluster-service.mjs:Counter', { scope: 'cluster', registry: 'etcd://127.0.0.1:1', secret: 'sixteen bytes at least', runtimeDir: process.argv[1] });",
      'await svc.ensureStarted().then(',
      '  () => console.log(JSON.stringify({ started: true })),',
      '  (error) => console.log(JSON.stringify({ name: error.name, code: error.code, message: error.message })),',
      ');',
    ].join('\n');
    const service = await run(process.execPath, ['--input-type=module', '-e', viaService, freshRoot()], { cwd: consumer });
    expect(JSON.parse(service.stdout)).toEqual({
      name: 'LoopbackSingletonError',
      code: 'ERR_LOOPBACK_SINGLETON',
      message: "scope 'cluster' needs the etcd client, an optional peer dependency that is not installed: run `npm install etcd3@~1.1.2` in your project",
    });
  });

  it('ships no files outside what its exports, bin and maps need', () => {
    expect(readdirSync(installed).sort()).toEqual(['README.md', 'dist', 'docs', 'machines', 'package.json', 'src'].sort());
  });
});
