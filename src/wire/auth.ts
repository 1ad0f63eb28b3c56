/**
 * Mutual challenge-response authentication. Both sides hold the per-user token; neither
 * ever sends it. Each side sends a fresh random nonce and proves it holds the token with
 * HMAC-SHA256(token, label || clientNonce || daemonNonce). Each kind of proof has its own
 * label, so none can be replayed as another: not a client's as the daemon's, and not a
 * signed version refusal (which a peer without the token can obtain for a client nonce of
 * its choosing) as a challenge.
 */
import { createHmac, createSecretKey, hkdfSync, type KeyObject, randomBytes, timingSafeEqual } from 'node:crypto';
import { NONCE_BYTES } from './messages.js';

const LABELS = {
  daemon: Buffer.from('loopback-singleton/1 daemon proof\0'),
  client: Buffer.from('loopback-singleton/1 client proof\0'),
  refusal: Buffer.from('loopback-singleton/1 version refusal\0'),
} as const;

/**
 * What a proof vouches for: the daemon's challenge, the client's auth, or the daemon's
 * signed refusal of a hello of another protocol version.
 */
export type ProofRole = keyof typeof LABELS;

/**
 * The token as an HMAC key: raw bytes, or a `KeyObject` made once with {@link proofKey}. Node
 * 22+ imports a raw key anew for every HMAC (~10 us on Node 24); a KeyObject skips that.
 */
export type ProofKey = Uint8Array | KeyObject;

/** The token as a key object, for the proofs of one handshake or of a daemon's lifetime. */
export function proofKey(token: Uint8Array): KeyObject {
  return createSecretKey(token);
}

/** A fresh handshake nonce. */
export function createNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/** The proof `role` sends for this pair of nonces. */
export function computeProof(token: ProofKey, role: ProofRole, clientNonce: Uint8Array, daemonNonce: Uint8Array): Buffer {
  return createHmac('sha256', token).update(LABELS[role]).update(clientNonce).update(daemonNonce).digest();
}

/** Checks a received proof in constant time. */
export function verifyProof(token: ProofKey, role: ProofRole, clientNonce: Uint8Array, daemonNonce: Uint8Array, proof: Uint8Array): boolean {
  const expected = computeProof(token, role, clientNonce, daemonNonce);
  return proof.length === expected.length && timingSafeEqual(expected, proof);
}

/** What a cluster key is derived for: bound to this use and to the singleton's name. */
const CLUSTER_KEY_SALT = Buffer.from('loopback-singleton/1 cluster handshake key');

/**
 * The handshake key of the singleton `name` in `scope: 'cluster'`: HKDF-SHA256 of the cluster
 * secret, salted for this use, with the name as its info. It takes the token file's place (each
 * machine has its own runtime dir); the secret itself never leaves the process that was given
 * it, and a key for one name proves nothing for another.
 */
export function clusterKey(secret: Uint8Array, name: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, CLUSTER_KEY_SALT, Buffer.from(name, 'utf8'), 32));
}
