import { execFile } from 'node:child_process';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { TransitionRecord } from '../../dist/src/inspect.js';
import { closeRemote } from '../../dist/src/index.js';
import { freshRoot, waitForExit } from '../support/daemon.js';
import { COUNTER, DIST_INDEX, service, WORKER } from '../support/clients.js';

const run = promisify(execFile);

/** The state values the first actor of `area` went through, in order. */
function path(records: TransitionRecord[], area: TransitionRecord['area']): unknown[] {
  const first = records.find((r) => r.area === area);
  return records.filter((r) => r.area === area && r.pid === first?.pid && r.actor === first.actor && r.type === 'transition').map((r) => r.to);
}

describe('live transitions', () => {
  it('LOOPBACK_SINGLETON_INSPECT streams a full lifecycle as NDJSON, from the client and the daemon it starts', async () => {
    const root = freshRoot();
    const file = join(root, 'inspect.ndjson');
    const spec = { dist: DIST_INDEX, runtimeDir: root, name: 'svc', factory: COUNTER, options: { idleTtlMs: 200 }, count: 2 };
    const { stdout } = await run(process.execPath, [WORKER, JSON.stringify(spec)], {
      env: { ...process.env, LOOPBACK_SINGLETON_INSPECT: file },
    });
    const { pid } = JSON.parse(stdout.trim()) as { pid: number };
    await waitForExit(pid); // idles out: draining, stopped

    const records = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as TransitionRecord);
    for (const record of records) expect(record).toMatchObject({ name: 'svc', ts: expect.any(Number), pid: expect.any(Number) });

    expect(path(records, 'client')).toEqual([
      'discovering',
      'locking',
      { locked: 'rechecking' },
      { locked: 'cleaningStale' },
      { locked: 'spawning' },
      { locked: 'awaitingReady' },
      { locked: 'connecting' },
      'connected',
    ]);
    expect(path(records, 'daemon')).toEqual([
      { starting: 'booting' },
      { starting: 'binding' },
      { starting: 'publishing' },
      { serving: 'idle' },
      { serving: 'busy' },
      { serving: 'idle' },
      { draining: 'answering' },
      { draining: 'disposing' },
      { draining: 'closingConnections' },
      'stopped',
    ]);
    expect(path(records, 'mailbox')).toEqual(['accepting', 'draining', 'closed']);
    expect(path(records, 'supervisor')).toEqual(['connected', 'disposed']);
    // Each connection's handshake is an actor on each side: two connections (the proxy's
    // and the worker's ping()), each welcomed.
    const handshakes = new Set(records.filter((r) => r.area === 'handshake').map((r) => `${r.pid}/${r.actor}`));
    expect(handshakes.size).toBe(4);
    for (const key of handshakes) {
      expect(records.filter((r) => `${r.pid}/${r.actor}` === key && r.type === 'transition').at(-1)!.to, key).toBe('authenticated');
    }
    // The first to start is the client's: it says hello.
    expect(path(records, 'handshake')).toEqual(['connecting', 'awaitingChallenge', 'awaitingWelcome', 'authenticated']);
    // Each actor is reported spawned before its first transition and stopped after its last
    // (the worker's ping() is a second, shorter client run).
    const actors = new Set(records.map((r) => `${r.pid}/${r.actor}`));
    expect(actors.size).toBe(5 + handshakes.size);
    for (const key of actors) {
      const own = records.filter((r) => `${r.pid}/${r.actor}` === key);
      expect(own[0]!.type, key).toBe('spawn');
      expect(own.at(-1)!.type, key).toBe('stop');
    }
    // The daemon's records come from the daemon's process, the client's from the worker's.
    const daemonPids = new Set(records.filter((r) => r.area === 'daemon' || r.area === 'mailbox').map((r) => r.pid));
    expect([...daemonPids]).toEqual([pid]);
    expect(records.find((r) => r.area === 'client')!.pid).not.toBe(pid);
    // The event that caused a transition is named.
    expect(records.find((r) => r.area === 'daemon' && JSON.stringify(r.to) === '{"draining":"answering"}')!.event).toBe('xstate.after.idleTtl.daemon.serving.idle');
  });

  it('publishes the same records on diagnostics channels loopback-singleton:<area>:<event>', async () => {
    const seen: Array<{ channel: string; record: TransitionRecord }> = [];
    const names = ['client', 'supervisor'].flatMap((area) => ['spawn', 'transition', 'stop'].map((event) => `loopback-singleton:${area}:${event}`));
    const listeners = names.map((channel) => {
      const listener = (message: unknown) => seen.push({ channel, record: message as TransitionRecord });
      subscribe(channel, listener);
      return [channel, listener] as const;
    });
    try {
      const svc = service();
      const proxy = await svc.proxy();
      await closeRemote(proxy);
      const mine = seen.filter((s) => s.record.name === 'svc');
      expect(mine[0]).toMatchObject({ channel: 'loopback-singleton:client:spawn' });
      expect(mine.filter((s) => s.channel === 'loopback-singleton:client:transition').at(-1)!.record.to).toBe('connected');
      expect(mine.filter((s) => s.channel === 'loopback-singleton:supervisor:transition').map((s) => s.record.to)).toEqual(['connected', 'disposed']);
      expect(mine.filter((s) => s.channel.endsWith(':stop')).map((s) => s.record.area)).toEqual(['client', 'supervisor']);
    } finally {
      for (const [channel, listener] of listeners) unsubscribe(channel, listener);
    }
  });
});
