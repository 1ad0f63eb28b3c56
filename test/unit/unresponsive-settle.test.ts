/**
 * A daemon killed as a client connects closes its sockets before its process is seen as
 * exited: src/client/unresponsive.ts looks at the process again a moment later. Whether a
 * process is the recorded one is scripted here (the first look alive, the second gone), since
 * no real process can be made to die inside that moment on cue.
 */
import { describe, expect, it, vi } from 'vitest';
import type { StartPlan } from '../../src/client/plan.js';
import { fakeRecord } from '../support/records.js';

const looks: boolean[] = [];
vi.mock('../../src/runtime/process.js', async (load) => ({
  ...(await load<typeof import('../../src/runtime/process.js')>()),
  isSameProcess: () => looks.shift() ?? false,
}));
const { unansweredOrStale } = await import('../../src/client/unresponsive.js');

const plan = { name: 'svc', paths: { metadata: '/run/svc/metadata.json', log: '/run/svc/daemon.log' }, options: { startTimeoutMs: 700 } } as unknown as StartPlan;

describe('a daemon that dies as the connect fails', () => {
  it('is found stale at the second look, not unresponsive', async () => {
    const refused = new Error('connect ECONNREFUSED 127.0.0.1:1');
    looks.push(true, false);
    expect(await unansweredOrStale(plan, fakeRecord(4242), refused, undefined)).toBe(refused);
    expect(looks).toEqual([]);
  });

  it('is unresponsive when both looks find it alive', async () => {
    looks.push(true, true);
    const verdict = (await unansweredOrStale(plan, fakeRecord(4242), new Error('timeout'), undefined)) as { code: string };
    expect(verdict.code).toBe('ERR_DAEMON_UNRESPONSIVE');
    expect(looks).toEqual([]);
  });
});
