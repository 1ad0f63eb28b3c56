/**
 * Subscriber processes for the events tests (test/fixtures/subscriber.mjs): each subscribes,
 * says so, takes events until an end marker and prints what it got. Killed when the test ends
 * if it is still running.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { onTestFinished } from 'vitest';
import type { LocalSingletonOptions } from '../../dist/src/index.js';
import { DIST_INDEX, TEST_START_TIMEOUT_MS } from './clients.js';
import { FIXTURES } from './daemon.js';

export const FEED = `${pathToFileURL(join(FIXTURES, 'feed.mjs')).href}:Feed`;
const SUBSCRIBER = join(FIXTURES, 'subscriber.mjs');

/** What a subscriber process printed at its end. */
export interface SubscriberResult {
  readonly pid: number;
  /** The `seq` of every event it took, the end marker's last. */
  readonly seqs: number[];
  /** Its subscription's `dropped` after the end marker. */
  readonly dropped: number;
  readonly error?: { name: string; code: string; message: string };
}

/** A running subscriber process. */
export interface Subscriber {
  readonly pid: number;
  /** Resolves once the daemon has its subscription. */
  readonly subscribed: Promise<void>;
  /** Resolves with what it printed once it has exited. */
  readonly result: Promise<SubscriberResult>;
  readonly exited: () => boolean;
}

/** Spec of one subscriber process. */
export interface SubscriberSpec {
  readonly runtimeDir: string;
  readonly name: string;
  readonly topic: string;
  readonly factory?: string;
  readonly options?: LocalSingletonOptions;
  readonly bufferSize?: number;
}

/** Starts a subscriber process. */
export function startSubscriber(spec: SubscriberSpec): Subscriber {
  const full = { dist: DIST_INDEX, factory: FEED, ...spec, options: { startTimeoutMs: TEST_START_TIMEOUT_MS, ...spec.options } };
  const child = spawn(process.execPath, [SUBSCRIBER, JSON.stringify(full)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let exited = false;
  let onSubscribed: () => void = () => {};
  const subscribed = new Promise<void>((resolve) => {
    onSubscribed = resolve;
  });
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    if (stdout.startsWith('subscribed\n')) onSubscribed();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const result = new Promise<SubscriberResult>((resolve, reject) => {
    child.on('exit', () => {
      exited = true;
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as SubscriberResult);
      } catch {
        reject(new Error(`subscriber printed no result: ${stdout}\n${stderr}`));
      }
      // A subscriber that failed before subscribing must not leave its test waiting.
      onSubscribed();
    });
  });
  onTestFinished(() => {
    if (!exited) {
      child.kill('SIGCONT');
      child.kill('SIGKILL');
    }
  });
  return { pid: child.pid!, subscribed, result, exited: () => exited };
}
