/**
 * Probing the daemons a cluster registry lists, for `list --registry`: each serving record's
 * address, reached over the protocol as the local `list` does (./probe.ts), as an observer
 * (never counted, never kept alive), with the key derived from the cluster secret and over TLS
 * when given the material. What comes back is the daemon's live state, pid and connections
 * from a ping, or why not. Every probe has its own deadline, and they run in parallel.
 *
 * The secret comes from an environment variable (`LOOPBACK_SINGLETON_SECRET`, or the one
 * `--secret-env` names), never from the command line, where `ps` shows it to every user.
 */
import { readFileSync } from 'node:fs';
import { Connection } from '../client/connection.js';
import { MIN_SECRET_BYTES, SECRET_ENV } from '../cluster-options.js';
import { HandshakeError } from '../errors.js';
import { checkTlsMaterial, type TlsMaterial } from '../net/tls-material.js';
import { isTlsMismatch } from '../net/tls-mismatch.js';
import type { ClusterRecord } from '../registry/record.js';
import { clusterKey } from '../wire/auth.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../wire/codec.js';
import { UsageError } from './args.js';
import { formatState } from './format.js';

/** The deadline of one daemon's probe when `--timeout` does not say: the local `list`'s connect budget. */
export const PROBE_TIMEOUT_MS = 1500;

/** What the probes connect with: the secret (none: nothing is probed), TLS material, a deadline. */
export interface ProbeCredentials {
  /** The cluster secret's bytes; undefined when its variable is not set. */
  readonly secret: Buffer | undefined;
  /** The variable the secret is read from, for the "not probed" note. */
  readonly secretEnv: string;
  readonly tls: TlsMaterial | undefined;
  /** The deadline of one daemon's probe (connect, handshake and ping), ms. */
  readonly timeoutMs: number;
}

/** How a probe ended. */
export type ProbeStatus = 'reachable' | 'not probed' | 'refused' | 'timeout' | 'unreachable';

/** One listed daemon, probed; null where the status leaves a field unknown. */
export interface ClusterProbe {
  readonly status: ProbeStatus;
  /** Why it is not `reachable`: the error's message, or what to set. */
  readonly detail: string | null;
  /** From the daemon's ping. */
  readonly pid: number | null;
  /** The daemon state as a dotted path (`serving.busy`). */
  readonly state: string | null;
  /** Open connections other than this one. */
  readonly connections: number | null;
  readonly queued: number | null;
  readonly callsServed: number | null;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A probe that did not reach the daemon. */
function notReached(status: Exclude<ProbeStatus, 'reachable'>, detail: string): ClusterProbe {
  return { status, detail, pid: null, state: null, connections: null, queued: null, callsServed: null };
}

/** The contents of the file a `--tls-*` option names. @throws {UsageError} when it cannot be read. */
function readPem(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(`list: cannot read the file of \`--${option}\` (${path}): ${(error as Error).message}`);
  }
}

/**
 * What `list --registry` probes with, from its options: the secret from `--secret-env`'s
 * variable (default {@link SECRET_ENV}), the TLS material from `--tls-cert`, `--tls-key` and
 * `--tls-ca` (all three or none), the deadline from `--timeout`.
 * @throws {UsageError} for a bad variable name, a secret shorter than 16 bytes, some TLS files
 *   but not all, a file that cannot be read or PEM that does not fit.
 */
export function probeCredentials(values: Readonly<Record<string, string | boolean | undefined>>, timeoutMs = PROBE_TIMEOUT_MS): ProbeCredentials {
  const secretEnv = typeof values['secret-env'] === 'string' ? values['secret-env'] : SECRET_ENV;
  if (!ENV_NAME.test(secretEnv)) throw new UsageError(`list: expected \`--secret-env\` to name an environment variable, got ${JSON.stringify(secretEnv)}`);
  const text = process.env[secretEnv];
  const secret = text === undefined || text === '' ? undefined : Buffer.from(text, 'utf8');
  if (secret !== undefined && secret.length < MIN_SECRET_BYTES) {
    throw new UsageError(`list: expected ${secretEnv} to hold the cluster secret, at least ${MIN_SECRET_BYTES} bytes, got ${secret.length} byte(s)`);
  }
  const files = { cert: values['tls-cert'], key: values['tls-key'], ca: values['tls-ca'] };
  const given = Object.entries(files).filter(([, path]) => typeof path === 'string');
  let tls: TlsMaterial | undefined;
  if (given.length > 0) {
    if (given.length < 3) throw new UsageError('list: TLS needs all three of `--tls-cert`, `--tls-key` and `--tls-ca`');
    try {
      tls = checkTlsMaterial({
        cert: readPem('tls-cert', files.cert as string),
        key: readPem('tls-key', files.key as string),
        ca: readPem('tls-ca', files.ca as string),
      });
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError(`list: ${(error as Error).message}`);
    }
  }
  return { secret, secretEnv, tls, timeoutMs };
}

/** `promise`, or the signal's reason once it aborts. */
function until<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Reaches the daemon `record` names, as the singleton `name`, and pings it. Never throws: a
 * daemon that cannot be reached is a probe that says why.
 */
export async function probeRecord(name: string, record: ClusterRecord, credentials: ProbeCredentials): Promise<ClusterProbe> {
  const { secret, secretEnv, tls, timeoutMs } = credentials;
  if (secret === undefined) return notReached('not probed', `not probed: set ${secretEnv} (the cluster secret) to reach it`);
  const deadline = AbortSignal.timeout(timeoutMs);
  // The handshake's own budget is longer: the deadline is what says "timeout".
  const opening = Connection.open(
    { transport: 'tcp', host: record.host, port: record.port },
    { token: clusterKey(secret, name), maxFrameBytes: DEFAULT_MAX_FRAME_BYTES, timeoutMs: timeoutMs + 1000, signal: deadline, observe: true, name, tls },
  );
  // Whenever it opens, it is closed: a connection that came too late included.
  const closing = opening.then(
    (opened) => () => opened.close(),
    () => () => {},
  );
  try {
    const connection = await until(opening, deadline);
    const info = await until(connection.ping(), deadline);
    return {
      status: 'reachable',
      detail: null,
      pid: info.pid,
      state: formatState(info.state),
      connections: info.active,
      queued: info.queued,
      callsServed: info.callsServed,
    };
  } catch (error) {
    if (deadline.aborted) return notReached('timeout', `no answer within ${timeoutMs} ms`);
    const message = (error as Error)?.message ?? String(error);
    if ((error as { code?: unknown })?.code === 'ERR_AUTH_FAILED') return notReached('refused', `another cluster secret than ${secretEnv}'s: ${message}`);
    // It answered, and said no: another secret, another CA, no TLS where it needs TLS.
    if (error instanceof HandshakeError || isTlsMismatch(error)) return notReached('refused', message);
    return notReached('unreachable', message);
  } finally {
    void closing.then((close) => close());
  }
}
