/**
 * `loopback-singleton stop <name> [--force]`: asks the daemon to shut down over the protocol
 * (by SIGTERM if it speaks another protocol version) and waits until its process is gone.
 * `--force` stops the recorded process whatever it is doing (see ../client/terminate.ts).
 */
import { HandshakeError } from '../errors.js';
import { removeMetadataIf } from '../runtime/metadata.js';
import { runtimePaths } from '../runtime/paths.js';
import { drainDaemon, KILL_GRACE_MS, killDaemon } from '../client/terminate.js';
import type { DaemonMetadata } from '../types.js';
import { CliFailure, parseMs } from './args.js';
import type { CommandContext } from './types.js';
import { formatDuration } from './format.js';
import { DaemonUnavailable, openDaemon, type OpenDaemon } from './probe.js';

const DEFAULT_TIMEOUT_MS = 30_000;

/** A daemon of ours that speaks another protocol version: only signals reach it. */
function otherProtocolDaemon(error: DaemonUnavailable): DaemonMetadata | undefined {
  const cause = error.cause;
  const metadata = error.metadata;
  return cause instanceof HandshakeError && cause.code === 'ERR_PROTOCOL_VERSION' && metadata && cause.daemonPid === metadata.pid ? metadata : undefined;
}

/** Stops the daemon of `positionals[0]`. */
export async function run({ root, values, positionals }: CommandContext): Promise<number> {
  const name = positionals[0]!;
  const force = values.force === true;
  const timeoutMs = typeof values.timeout === 'string' ? parseMs('timeout', values.timeout, 0, 86_400_000) : DEFAULT_TIMEOUT_MS;
  const paths = runtimePaths(root, name);
  const how = force
    ? `forced: queued calls are rejected, and the process is killed if it is still running after ${KILL_GRACE_MS} ms`
    : 'graceful: accepted calls are answered first';

  let open: OpenDaemon | undefined;
  let metadata: DaemonMetadata;
  try {
    open = await openDaemon(paths);
    metadata = open.metadata;
  } catch (error) {
    if (!(error instanceof DaemonUnavailable)) throw error;
    const other = otherProtocolDaemon(error);
    // --force: whatever the recorded process is doing (draining, busy, stopped), it is stopped.
    const stuck = force && (error.status === 'draining' || error.status === 'unresponsive') ? error.metadata : undefined;
    // A graceful stop of a draining daemon: it is on its way out; wait for it.
    const draining = !force && error.status === 'draining' ? error.metadata : undefined;
    metadata = (other ?? stuck ?? draining)!;
    if (metadata === undefined) throw new CliFailure(`singleton "${name}" under ${root}: ${error.message}`);
  }
  const { pid } = metadata;
  const started = performance.now();
  const via = open ? '' : metadata.draining ? '; it is draining already' : '; it does not answer over its protocol, so by signal';
  process.stdout.write(`stopping "${name}" (pid ${pid}, ${how}${via})\n`);
  if (force) {
    const outcome = await killDaemon(paths, metadata, open?.connection);
    const what = outcome.killed ? 'killed (SIGKILL)' : 'exited';
    process.stdout.write(
      `stopped "${name}": pid ${pid} ${what} after ${formatDuration(performance.now() - started)}${outcome.removedRecord ? '; removed the record it left behind' : ''}\n`,
    );
    return 0;
  }
  if (!(await drainDaemon(metadata, open?.connection, timeoutMs))) {
    throw new CliFailure(`singleton "${name}": pid ${pid} still runs after ${timeoutMs} ms (it goes on draining, within its drain deadline); try --force`);
  }
  // A daemon removes its own metadata; one that crashed on the way out may not have.
  const leftover = removeMetadataIf(paths.metadata, metadata.instanceId);
  process.stdout.write(
    `stopped "${name}": pid ${pid} exited after ${formatDuration(performance.now() - started)}${leftover ? '; removed the metadata it left behind' : ''}\n`,
  );
  return 0;
}
