/**
 * The standby (src/client/standby.ts) with a stand-in for the process it spawns: when one is
 * spawned (no record, none waiting), handing it over, dismissing it, losing it, and what it
 * publishes on `loopback-singleton:client:standby`.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runtimePaths } from '../../src/runtime/paths.js';
import type { RuntimePaths } from '../../src/types.js';

class FakeChild extends EventEmitter {
  static spawned: FakeChild[] = [];
  readonly pid = 7000 + FakeChild.spawned.length;
  connected = true;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly done: string[] = [];
  constructor(readonly options: unknown) {
    super();
    FakeChild.spawned.push(this);
  }
  kill(signal: NodeJS.Signals): boolean {
    this.done.push(`kill ${signal}`);
    return true;
  }
  disconnect(): void {
    this.done.push('disconnect');
    this.connected = false;
  }
  unref(): void {
    this.done.push('unref');
  }
}

const spawning = vi.hoisted(() => ({ fail: false }));
vi.mock('../../src/client/daemon-process.js', () => ({
  spawnDaemonProcess: (options: unknown) => {
    if (spawning.fail) throw new Error('spawn EAGAIN');
    return new FakeChild(options);
  },
}));

const { Standby } = await import('../../src/client/standby.js');

let root: string;
let paths: RuntimePaths;
const published: unknown[] = [];
const listener = (message: unknown) => published.push(message);
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'lbs-standby-'));
  paths = runtimePaths(root, 'svc');
  FakeChild.spawned = [];
  published.length = 0;
  spawning.fail = false;
  subscribe('loopback-singleton:client:standby', listener);
});
afterEach(() => {
  unsubscribe('loopback-singleton:client:standby', listener);
  rmSync(root, { recursive: true, force: true });
});

describe('Standby', () => {
  it('spawns one for a singleton without a record, making its dir; taken, it is the daemon process', () => {
    const standby = Standby.forColdStart('svc', paths, ['--x'], 1234)!;
    expect(standby).toBeDefined();
    expect(existsSync(paths.dir)).toBe(true);
    const [child] = FakeChild.spawned;
    expect(child!.options).toEqual({ paths, execArgv: ['--x'], waitMs: 1234 });
    // One at a time per process.
    expect(Standby.forColdStart('other', runtimePaths(root, 'other'), undefined, 1)).toBeUndefined();
    child!.on('exit', () => {});
    expect(standby.take()).toBe(child);
    expect(child!.listenerCount('exit')).toBe(0);
    expect(child!.listenerCount('error')).toBe(0);
    expect(standby.take()).toBeUndefined();
    standby.dismiss();
    expect(child!.done).toEqual([]);
    expect(published).toEqual([
      { name: 'svc', pid: child!.pid, outcome: 'spawned' },
      { name: 'svc', pid: child!.pid, outcome: 'taken' },
    ]);
    // Released: the next cold start may spawn one.
    const next = Standby.forColdStart('other', runtimePaths(root, 'other'), undefined, 1);
    expect(next).toBeDefined();
    next!.dismiss();
  });

  it('none for a singleton with a record, nor when the spawn throws', () => {
    mkdirSync(paths.dir, { recursive: true });
    writeFileSync(paths.metadata, '{}');
    expect(Standby.forColdStart('svc', paths, undefined, 1)).toBeUndefined();
    spawning.fail = true;
    expect(Standby.forColdStart('x', runtimePaths(root, 'x'), undefined, 1)).toBeUndefined();
    expect(FakeChild.spawned).toEqual([]);
    spawning.fail = false;
    const standby = Standby.forColdStart('x', runtimePaths(root, 'x'), undefined, 1);
    expect(standby).toBeDefined();
    standby!.dismiss();
  });

  it('dismissed while running: killed, its channel closed, unref()ed, said dismissed; once only', () => {
    const standby = Standby.forColdStart('svc', paths, undefined, 1)!;
    const child = FakeChild.spawned[0]!;
    standby.dismiss();
    standby.dismiss();
    expect(child.done).toEqual(['kill SIGKILL', 'disconnect', 'unref']);
    expect(standby.take()).toBeUndefined();
    expect(published.at(-1)).toEqual({ name: 'svc', pid: child.pid, outcome: 'dismissed' });
  });

  it('a process that exited or failed dismisses itself as lost: not killed', () => {
    const standby = Standby.forColdStart('svc', paths, undefined, 1)!;
    const child = FakeChild.spawned[0]!;
    child.exitCode = 1;
    child.connected = false;
    child.emit('exit', 1, null);
    expect(child.done).toEqual(['unref']);
    expect(published.at(-1)).toEqual({ name: 'svc', pid: child.pid, outcome: 'lost' });
    expect(standby.take()).toBeUndefined();
    const second = Standby.forColdStart('svc', paths, undefined, 1)!;
    const failed = FakeChild.spawned[1]!;
    failed.signalCode = 'SIGKILL';
    failed.emit('error', new Error('EMFILE'));
    expect(failed.done).toEqual(['disconnect', 'unref']);
    expect(published.at(-1)).toMatchObject({ outcome: 'lost' });
    expect(second.take()).toBeUndefined();
  });

  it.each([
    ['exited', (child: FakeChild) => (child.exitCode = 0)],
    ['killed', (child: FakeChild) => (child.signalCode = 'SIGTERM')],
    ['disconnected', (child: FakeChild) => (child.connected = false)],
  ])('taking one that has %s (its event not seen yet) gives nothing, said lost', (_, end) => {
    const standby = Standby.forColdStart('svc', paths, undefined, 1)!;
    const child = FakeChild.spawned[0]!;
    end(child);
    expect(standby.take()).toBeUndefined();
    expect(published.at(-1)).toEqual({ name: 'svc', pid: child.pid, outcome: 'lost' });
    expect(child.listenerCount('exit')).toBe(1);
    expect(Standby.forColdStart('svc', paths, undefined, 1)).toBeDefined();
    (FakeChild.spawned[1] as FakeChild).emit('exit', 0, null);
  });
});
