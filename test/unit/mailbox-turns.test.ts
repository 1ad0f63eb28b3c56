/**
 * `Mailbox.enter`, the turns that are not calls (a stream's steps, src/daemon/streams.ts): they
 * run in line with the calls, one at a time; a draining mailbox refuses them unless they are
 * meant to run in the drain; a forced close answers a waiting one without running it; they are
 * not counted as calls served.
 */
import { describe, expect, it } from 'vitest';
import { Mailbox, type CallSink } from '../../src/daemon/mailbox.js';

function recorder() {
  const refusals: string[] = [];
  const sink: CallSink = {
    replyOk: () => {},
    replyError: (_id, error) => refusals.push(error.code),
  };
  return { sink, refusals };
}

function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

describe('Mailbox.enter', () => {
  it('runs turns in line with calls, one at a time, and does not count them as served', async () => {
    const log: string[] = [];
    const first = gate();
    const mailbox = new Mailbox(
      {
        call(tag: string) {
          log.push(tag);
        },
      },
      10,
    );
    const { sink } = recorder();
    mailbox.enter(
      sink,
      'turn',
      () => {
        log.push('turn 1 begins');
        return first.opened.then(() => {
          log.push('turn 1 ends');
        });
      },
      false,
    );
    mailbox.submit(sink, 1, 'call', ['call']);
    mailbox.enter(
      sink,
      'turn',
      () => {
        log.push('turn 2');
        return undefined;
      },
      false,
    );
    expect(log).toEqual(['turn 1 begins']);
    expect(mailbox.queued).toBe(2);
    first.open();
    await mailbox.idle();
    expect(log).toEqual(['turn 1 begins', 'turn 1 ends', 'call', 'turn 2']);
    expect(mailbox.served).toBe(1);
  });

  it('while draining, refuses a turn with ERR_DAEMON_DRAINING unless it is meant for the drain', async () => {
    const log: string[] = [];
    const running = gate();
    const mailbox = new Mailbox({ slow: () => running.opened }, 10);
    const { sink, refusals } = recorder();
    mailbox.submit(sink, 1, 'slow', []);
    const closed = mailbox.close(false);
    mailbox.enter(sink, 'turn', () => void log.push('refused ran'), false);
    mailbox.enter(sink, 'turn', () => void log.push('drain turn ran'), true);
    running.open();
    await closed;
    expect(refusals).toEqual(['ERR_DAEMON_DRAINING']);
    expect(log).toEqual(['drain turn ran']);
    mailbox.enter(sink, 'turn', () => void log.push('after close'), true);
    expect(refusals).toEqual(['ERR_DAEMON_DRAINING', 'ERR_DAEMON_DRAINING']);
  });

  it('a forced close answers a waiting turn with ERR_SHUTDOWN_FORCED without running it', async () => {
    const log: string[] = [];
    const running = gate();
    const mailbox = new Mailbox({ slow: () => running.opened }, 10);
    const { sink, refusals } = recorder();
    mailbox.submit(sink, 1, 'slow', []);
    mailbox.enter(sink, 'turn', () => void log.push('ran'), false);
    await mailbox.close(true);
    running.open();
    await mailbox.idle();
    expect(refusals).toEqual(['ERR_SHUTDOWN_FORCED']);
    expect(log).toEqual([]);
  });

  it('tells its closing listeners once, before it stops admitting', async () => {
    const mailbox = new Mailbox({}, 10);
    const seen: Array<[boolean, number]> = [];
    const { sink, refusals } = recorder();
    mailbox.onClosing((force) => {
      // Still admitting: a turn entered here runs in the drain.
      mailbox.enter(sink, 'turn', () => undefined, false);
      seen.push([force, refusals.length]);
    });
    await mailbox.close(false);
    await mailbox.close(true);
    expect(seen).toEqual([[false, 0]]);
    expect(refusals).toEqual([]);
  });
});
