import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { computeProof, createNonce, proofKey, verifyProof } from '../../src/wire/auth.js';
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
  it.each(['daemon', 'client', 'refusal'] as const)('a %s proof verifies for the same token, role and nonces', (role) => {
    const proof = computeProof(token, role, clientNonce, daemonNonce);
    expect(proof).toHaveLength(32);
    expect(verifyProof(token, role, clientNonce, daemonNonce, proof)).toBe(true);
  });

  it('is deterministic for the same inputs', () => {
    expect(computeProof(token, 'client', clientNonce, daemonNonce)).toEqual(computeProof(token, 'client', clientNonce, daemonNonce));
  });

  it('is HMAC-SHA256(token, label || clientNonce || daemonNonce), as the protocol documents', () => {
    const hmac = (label: string): Buffer => createHmac('sha256', token).update(label).update(clientNonce).update(daemonNonce).digest();
    expect(computeProof(token, 'daemon', clientNonce, daemonNonce)).toEqual(hmac('loopback-singleton/1 daemon proof\0'));
    expect(computeProof(token, 'client', clientNonce, daemonNonce)).toEqual(hmac('loopback-singleton/1 client proof\0'));
    expect(computeProof(token, 'refusal', clientNonce, daemonNonce)).toEqual(hmac('loopback-singleton/1 version refusal\0'));
  });

  it('matches the test vectors of docs/PROTOCOL.md §3', () => {
    const vectorToken = Buffer.from('ab'.repeat(32), 'latin1');
    const [c, d] = [Buffer.alloc(32, 1), Buffer.alloc(32, 2)];
    expect(computeProof(vectorToken, 'daemon', c, d).toString('hex')).toBe('a8405413dcc04160dbcc7a910110a49be06718647f26bca5c2c79ad9c1bcf3c3');
    expect(computeProof(vectorToken, 'client', c, d).toString('hex')).toBe('49925ca1e7591cea3e7c830e96306b6c2f8f8ae96e66b5bb87779a6986e83674');
    expect(computeProof(vectorToken, 'refusal', c, d).toString('hex')).toBe('eca6ff51f9f273bad4ef9000ed5a2bba742f8d4f47f57cfefc59af1344f72d04');
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

  // Anyone who can connect gets a signed refusal over a client nonce of their choosing (a hello
  // with another version): were it to verify as a challenge proof, a peer without the token
  // could pass a client's check of the daemon by relaying that client's nonce.
  it.each([
    ['a version refusal proof', 'refusal', 'a challenge (daemon) proof', 'daemon'],
    ['a challenge (daemon) proof', 'daemon', 'a version refusal proof', 'refusal'],
    ['a version refusal proof', 'refusal', 'a client proof', 'client'],
    ['a client proof', 'client', 'a version refusal proof', 'refusal'],
  ] as const)('%s does not verify as %s', (_made, made, _checked, checked) => {
    const proof = computeProof(token, made, clientNonce, daemonNonce);
    expect(verifyProof(token, checked, clientNonce, daemonNonce, proof)).toBe(false);
  });

  it.each(['daemon', 'client', 'refusal'] as const)('a %s proof fails with the nonces swapped', (role) => {
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
    [
      'with one bit flipped',
      (p: Buffer) => {
        const q = Buffer.from(p);
        q[31]! ^= 1;
        return q;
      },
    ],
  ])('a proof %s fails without throwing', (_label, mangle) => {
    const proof = mangle(computeProof(token, 'daemon', clientNonce, daemonNonce));
    expect(verifyProof(token, 'daemon', clientNonce, daemonNonce, proof)).toBe(false);
  });

  it('accepts a proof given as a plain Uint8Array (as decoded from the wire)', () => {
    const proof = new Uint8Array(computeProof(token, 'client', clientNonce, daemonNonce));
    expect(verifyProof(token, 'client', clientNonce, daemonNonce, proof)).toBe(true);
  });
});

describe('proofKey: the token as a key object', () => {
  it('gives the very proofs the raw token gives, for every role, and each verifies the other', () => {
    const token = Buffer.from('a token of thirty-two bytes, ok!');
    const key = proofKey(token);
    const [client, daemon] = [createNonce(), createNonce()];
    for (const role of ['daemon', 'client', 'refusal'] as const) {
      const raw = computeProof(token, role, client, daemon);
      expect(computeProof(key, role, client, daemon).equals(raw), role).toBe(true);
      expect(verifyProof(key, role, client, daemon, raw), role).toBe(true);
      expect(verifyProof(token, role, client, daemon, computeProof(key, role, client, daemon)), role).toBe(true);
    }
    // Another token's key proves nothing.
    const other = proofKey(Buffer.from('another token of thirty-two b!!!'));
    expect(verifyProof(other, 'daemon', client, daemon, computeProof(token, 'daemon', client, daemon))).toBe(false);
  });
});
