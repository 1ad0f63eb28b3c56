/**
 * The wire rehearsal (src/wire/rehearsal.ts) a client runs while its daemon boots and a daemon
 * runs once it is ready: every made-up message must encode, decode and parse as a real one,
 * or the rehearsal silently warms nothing.
 */
import { describe, expect, it } from 'vitest';
import { rehearseWire } from '../../src/wire/rehearsal.js';

describe('rehearseWire', () => {
  it('takes all six handshake and call messages round, with or without a welcome info', () => {
    expect(rehearseWire()).toBe(6);
    expect(rehearseWire({ pid: process.pid, state: { serving: 'idle' }, factory: { module: 'file:///x.mjs', export: 'X' } })).toBe(6);
  });

  it('never throws: a welcome info it cannot encode ends the rehearsal early', () => {
    expect(rehearseWire({ fn: () => 1, big: 10n ** 30n })).toBeLessThan(6);
  });
});
