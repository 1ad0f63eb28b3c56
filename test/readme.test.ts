/**
 * The README's quick start, as a reader would run it: its two TypeScript blocks are written
 * to a fresh project that depends on this package, type-checked and compiled with tsc, and
 * run twice as separate processes, which must share one Counter.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, inject, it, onTestFinished } from 'vitest';
import { localSingleton } from '../dist/src/index.js';
import { writeConsumerTsconfig } from './support/consumer.js';
import { freshRoot } from './support/daemon.js';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');

describe('README', () => {
  it('the quick start compiles and shares one counter between two processes', { timeout: 90_000 }, async () => {
    const blocks = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    const project = mkdtempSync(join(inject('suiteRoot'), 'readme-'));
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(ROOT, join(project, 'node_modules', 'loopback-singleton'));
    writeFileSync(join(project, 'package.json'), '{ "type": "module" }\n');
    writeConsumerTsconfig(project);
    writeFileSync(join(project, 'services.ts'), blocks[0]!);
    writeFileSync(join(project, 'app.ts'), blocks[1]!);
    await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project]);

    const runtimeDir = freshRoot();
    const env = { ...process.env, LOOPBACK_SINGLETON_RUNTIME_DIR: runtimeDir };
    onTestFinished(() => localSingleton('my-counter', join(project, 'out', 'services.js:Counter'), { runtimeDir }).shutdown({ force: true }));
    const first = await run(process.execPath, [join(project, 'out', 'app.js')], { env });
    const second = await run(process.execPath, [join(project, 'out', 'app.js')], { env });
    expect(first.stdout).toBe('12\npong\n');
    expect(second.stdout).toBe('14\npong\n');
  });
});
