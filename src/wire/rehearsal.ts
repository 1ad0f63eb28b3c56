/**
 * A dry run of the wire work of a handshake and a first call (framing, MessagePack, message
 * parsing, the HMAC proofs) on made-up messages, with no socket and no effect.
 *
 * Why: in a cold start the first handshake is on the critical path of both processes, and it
 * is the first time V8 runs that code (inline caches, msgpackr's first encodes, OpenSSL's
 * first HMAC): several milliseconds per side. Each process runs it
 * where it would wait anyway: the client while the daemon it spawned boots, the daemon right
 * after it reported ready, while its spawner learns it and connects.
 */
import { PACKAGE_VERSION, PROTOCOL_VERSION } from '../version.js';
import { computeProof, createNonce, verifyProof } from './auth.js';
import { DEFAULT_MAX_FRAME_BYTES, decodeValue, encodeFrame, FrameDecoder, HANDSHAKE_MAX_FRAME_BYTES } from './codec.js';
import { parseClientMessage, parseDaemonMessage } from './parse.js';

/**
 * Runs the rehearsal once. `info` is a welcome's info (the daemon passes its own, so the
 * rehearsal encodes the very shape it will send). Returns how many of the six messages went
 * round; it never throws, since it only ever saves time (a test checks that all six do).
 */
export function rehearseWire(info: object = {}): number {
  let round = 0;
  try {
    round = rehearse(info);
  } catch {
    // a message this rehearsal got wrong; the real handshake will run cold, that is all
  }
  return round;
}

let rehearsed = false;

/**
 * The client's rehearsal: once per process. The first start warms the code up; later starts
 * (many singletons started at once, restarts) would only spend their caller's event loop on it.
 */
export function rehearseWireOnce(): void {
  if (rehearsed) return;
  rehearsed = true;
  rehearseWire();
}

function rehearse(info: object): number {
  const token = Buffer.alloc(32, 0x5a);
  const clientNonce = createNonce();
  const daemonNonce = createNonce();
  const daemonProof = computeProof(token, 'daemon', clientNonce, daemonNonce);
  const clientProof = computeProof(token, 'client', clientNonce, daemonNonce);
  verifyProof(token, 'daemon', clientNonce, daemonNonce, daemonProof);
  verifyProof(token, 'client', clientNonce, daemonNonce, clientProof);
  const fromClient = [
    { t: 'hello', v: PROTOCOL_VERSION, pkg: PACKAGE_VERSION, nonce: clientNonce },
    { t: 'auth', proof: clientProof },
    { t: 'call', id: 1, m: 'rehearsal', a: [] },
  ];
  const fromDaemon = [
    { t: 'challenge', v: PROTOCOL_VERSION, pkg: PACKAGE_VERSION, nonce: daemonNonce, proof: daemonProof },
    { t: 'welcome', info },
    { t: 'reply', id: 1, r: 1 },
  ];
  let round = 0;
  const decoder = new FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES);
  for (const [messages, parse] of [
    [fromClient, parseClientMessage],
    [fromDaemon, parseDaemonMessage],
  ] as const) {
    for (const message of messages) {
      decoder.push(encodeFrame(message, DEFAULT_MAX_FRAME_BYTES), (payload) => {
        parse(decodeValue(payload));
        round++;
      });
    }
  }
  return round;
}
