/**
 * The README's events example, as a reader would use it: its hosted module and its subscriber
 * are written to a fresh project that depends on this package (`loopback-singleton/events`
 * through the exports map), type-checked with tsc beside a file of type assertions, and run:
 * the subscriber gets what the object published, typed by the topic.
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

/** Type assertions a consumer relies on: tsc fails the test if one does not hold. */
const TYPES = `import { remoteEvents, type Remote, type Subscription } from 'loopback-singleton';
import { publisher } from 'loopback-singleton/events';
import type { Counter, CounterEvents } from './counter.js';

export async function types(counter: Remote<Counter>): Promise<void> {
  const events = remoteEvents<CounterEvents>(counter);
  const changes: Subscription<number> = await events.subscribe('changed');
  const resets: Subscription<{ by: string }> = await events.subscribe('reset', { bufferSize: 10 });
  // @ts-expect-error: not a topic of CounterEvents
  await events.subscribe('nope');
  for await (const value of changes) {
    const n: number = value;
    // @ts-expect-error: a number, not a string
    const s: string = value;
    void n, s;
  }
  const dropped: number = resets.dropped;
  void dropped;
  const pub = publisher<CounterEvents>();
  pub.publish('reset', { by: 'me' });
  // @ts-expect-error: the payload of 'changed' is a number
  pub.publish('changed', 'one');
  const withCallback = publisher<{ job: { id: number; done: () => void } }>();
  // @ts-expect-error: a function cannot cross the wire
  withCallback.publish('job', { id: 1, done: () => {} });
}
`;

const RUN = `import { localSingleton, remoteEvents } from 'loopback-singleton';
import type { Counter, CounterEvents } from './counter.js';

await using counter = await localSingleton<Counter>('counter', './counter.js:Counter').proxy();
await using changes = await remoteEvents<CounterEvents>(counter).subscribe('changed');
await counter.inc();
await counter.inc();
const seen: number[] = [];
for await (const value of changes) {
  seen.push(value);
  if (seen.length === 2) break;
}
console.log(JSON.stringify({ seen, dropped: changes.dropped }));
`;

describe('README, Streams and events', () => {
  it('the events example compiles, is typed by topic, and delivers what the object published', { timeout: 90_000 }, async () => {
    const blocks = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const counter = blocks.find((block) => block.includes("from 'loopback-singleton/events'"));
    const app = blocks.find((block) => block.includes('.subscribe(') && block.includes('for await'));
    expect(counter).toBeDefined();
    expect(app).toBeDefined();
    const project = mkdtempSync(join(inject('suiteRoot'), 'readme-events-'));
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(ROOT, join(project, 'node_modules', 'loopback-singleton'));
    writeFileSync(join(project, 'package.json'), '{ "type": "module" }\n');
    writeConsumerTsconfig(project);
    writeFileSync(join(project, 'counter.ts'), counter!);
    writeFileSync(join(project, 'app.ts'), app!);
    writeFileSync(join(project, 'types.ts'), TYPES);
    writeFileSync(join(project, 'run.ts'), RUN);
    await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project]);

    const runtimeDir = freshRoot();
    const out = join(project, 'out');
    onTestFinished(() => localSingleton('counter', join(out, 'counter.js:Counter'), { runtimeDir }).shutdown({ force: true }));
    const { stdout } = await run(process.execPath, [join(out, 'run.js')], { cwd: out, env: { ...process.env, LOOPBACK_SINGLETON_RUNTIME_DIR: runtimeDir } });
    expect(JSON.parse(stdout)).toEqual({ seen: [1, 2], dropped: 0 });
  });
});
