/**
 * Mutual challenge-response authentication. Both sides hold the per-user token; neither
 * ever sends it. Each side sends a fresh random nonce and proves it holds the token with
 * HMAC-SHA256(token, label || clientNonce || daemonNonce). The two labels differ, so a
 * proof one side produced can never be replayed as the other side's.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { NONCE_BYTES } from './messages.js';

const DAEMON_LABEL = Buffer.from('loopback-singleton/1 daemon proof\0');
const CLIENT_LABEL = Buffer.from('loopback-singleton/1 client proof\0');

/** Which side a proof speaks for. */
export type ProofRole = 'daemon' | 'client';

/** A fresh handshake nonce. */
export function createNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/** The proof `role` sends for this pair of nonces. */
export function computeProof(
  token: Uint8Array,
  role: ProofRole,
  clientNonce: Uint8Array,
  daemonNonce: Uint8Array,
): Buffer {
  return createHmac('sha256', token)
    .update(role === 'daemon' ? DAEMON_LABEL : CLIENT_LABEL)
    .update(clientNonce)
    .update(daemonNonce)
    .digest();
}

/** Checks a received proof in constant time. */
export function verifyProof(
  token: Uint8Array,
  role: ProofRole,
  clientNonce: Uint8Array,
  daemonNonce: Uint8Array,
  proof: Uint8Array,
): boolean {
  const expected = computeProof(token, role, clientNonce, daemonNonce);
  return proof.length === expected.length && timingSafeEqual(expected, proof);
}
