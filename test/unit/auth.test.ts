import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { computeProof, createNonce, verifyProof } from '../../src/wire/auth.js';
import { NONCE_BYTES } from '../../src/wire/messages.js';

// Tokens are used as the ASCII bytes of 64 hex characters, as src/runtime/token.ts returns them.
const token = Buffer.from('0123456789abcdef'.repeat(4), 'latin1');
const otherToken = Buffer.from('fedcba9876543210'.repeat(4), 'latin1');
const clientNonce = Buffer.alloc(NONCE_BYTES, 0x11);
const daemonNonce = Buffer.alloc(NONCE_BYTES, 0x22);

describe('createNonce', () => {
  it('returns NONCE_BYTES fresh random bytes', () => {
    const a = createNonce();
    const b = createNonce();
    expect(a).toHaveLength(NONCE_BYTES);
    expect(b).toHaveLength(NONCE_BYTES);
    expect(a.equals(b)).toBe(false);
  });
});

describe('computeProof / verifyProof', () => {
  it.each(['daemon', 'client'] as const)('a %s proof verifies for the same token, role and nonces', (role) => {
    const proof = computeProof(token, role, clientNonce, daemonNonce);
    expect(proof).toHaveLength(32);
    expect(verifyProof(token, role, clientNonce, daemonNonce, proof)).toBe(true);
  });

  it('is deterministic for the same inputs', () => {
    expect(computeProof(token, 'client', clientNonce, daemonNonce)).toEqual(computeProof(token, 'client', clientNonce, daemonNonce));
  });

  it('is HMAC-SHA256(token, label || clientNonce || daemonNonce), as the protocol documents', () => {
    const hmac = (label: string): Buffer =>
      createHmac('sha256', token).update(label).update(clientNonce).update(daemonNonce).digest();
    expect(computeProof(token, 'daemon', clientNonce, daemonNonce)).toEqual(hmac('loopback-singleton/1 daemon proof\0'));
    expect(computeProof(token, 'client', clientNonce, daemonNonce)).toEqual(hmac('loopback-singleton/1 client proof\0'));
  });

  it.each(['daemon', 'client'] as const)('a %s proof fails for a wrong token', (role) => {
    const proof = computeProof(otherToken, role, clientNonce, daemonNonce);
    expect(verifyProof(token, role, clientNonce, daemonNonce, proof)).toBe(false);
  });

  it('a daemon proof does not verify as a client proof, nor the reverse', () => {
    const daemonProof = computeProof(token, 'daemon', clientNonce, daemonNonce);
    const clientProof = computeProof(token, 'client', clientNonce, daemonNonce);
    expect(daemonProof.equals(clientProof)).toBe(false);
    expect(verifyProof(token, 'client', clientNonce, daemonNonce, daemonProof)).toBe(false);
    expect(verifyProof(token, 'daemon', clientNonce, daemonNonce, clientProof)).toBe(false);
  });

  it.each(['daemon', 'client'] as const)('a %s proof fails with the nonces swapped', (role) => {
    const proof = computeProof(token, role, clientNonce, daemonNonce);
    expect(verifyProof(token, role, daemonNonce, clientNonce, proof)).toBe(false);
  });

  it('a proof fails for another nonce pair (no replay across handshakes)', () => {
    const proof = computeProof(token, 'client', clientNonce, daemonNonce);
    expect(verifyProof(token, 'client', clientNonce, createNonce(), proof)).toBe(false);
    expect(verifyProof(token, 'client', createNonce(), daemonNonce, proof)).toBe(false);
  });

  it.each([
    ['truncated by one byte', (p: Buffer) => p.subarray(0, p.length - 1)],
    ['truncated to half', (p: Buffer) => p.subarray(0, 16)],
    ['empty', () => Buffer.alloc(0)],
    ['extended by one byte', (p: Buffer) => Buffer.concat([p, Buffer.from([0])])],
    ['with one bit flipped', (p: Buffer) => { const q = Buffer.from(p); q[31]! ^= 1; return q; }],
  ])('a proof %s fails without throwing', (_label, mangle) => {
    const proof = mangle(computeProof(token, 'daemon', clientNonce, daemonNonce));
    expect(verifyProof(token, 'daemon', clientNonce, daemonNonce, proof)).toBe(false);
  });

  it('accepts a proof given as a plain Uint8Array (as decoded from the wire)', () => {
    const proof = new Uint8Array(computeProof(token, 'client', clientNonce, daemonNonce));
    expect(verifyProof(token, 'client', clientNonce, daemonNonce, proof)).toBe(true);
  });
});
