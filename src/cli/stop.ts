/**
 * `loopback-singleton stop <name> [--force]`: asks the daemon to shut down over the
 * protocol (graceful unless --force) and waits until its process is gone.
 */
import { HandshakeError } from '../errors.js';
import { removeMetadataIf } from '../runtime/metadata.js';
import { runtimePaths } from '../runtime/paths.js';
import { isProcessAlive } from '../runtime/process.js';
import type { DaemonMetadata } from '../types.js';
import { CliFailure, parseMs } from './args.js';
import type { CommandContext } from './commands.js';
import { formatDuration } from './format.js';
import { DaemonUnavailable, openDaemon, type OpenDaemon } from './probe.js';

const DEFAULT_TIMEOUT_MS = 30_000;
const EXIT_POLL_MS = 20;

/** Resolves true once `pid` has exited, false if it still runs after `timeoutMs`. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (isProcessAlive(pid)) {
    if (performance.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, EXIT_POLL_MS));
  }
  return true;
}

/** A daemon of ours that speaks another protocol version: only signals reach it. */
function otherProtocolDaemon(error: DaemonUnavailable): DaemonMetadata | undefined {
  const cause = error.cause;
  const metadata = error.metadata;
  return cause instanceof HandshakeError && cause.code === 'ERR_PROTOCOL_VERSION' && metadata && cause.daemonPid === metadata.pid ? metadata : undefined;
}

/** SIGTERM drains a daemon gracefully; a second one escalates to a forced drain. */
async function signalStop(pid: number, force: boolean): Promise<void> {
  process.kill(pid, 'SIGTERM');
  if (!force) return;
  // Two signals sent back to back may merge into one.
  await new Promise((resolve) => setTimeout(resolve, 50));
  if (isProcessAlive(pid)) process.kill(pid, 'SIGTERM');
}

/** Stops the daemon of `positionals[0]`. */
export async function run({ root, values, positionals }: CommandContext): Promise<number> {
  const name = positionals[0]!;
  const force = values.force === true;
  const timeoutMs = typeof values.timeout === 'string' ? parseMs('timeout', values.timeout, 0, 86_400_000) : DEFAULT_TIMEOUT_MS;
  const paths = runtimePaths(root, name);
  const how = force ? 'forced: queued calls are rejected' : 'graceful: accepted calls are answered first';

  let open: OpenDaemon | undefined;
  let metadata: DaemonMetadata;
  try {
    open = await openDaemon(paths);
    metadata = open.metadata;
  } catch (error) {
    if (!(error instanceof DaemonUnavailable)) throw error;
    const other = otherProtocolDaemon(error);
    if (!other) throw new CliFailure(`singleton "${name}" under ${root}: ${error.message}`);
    metadata = other;
  }
  const { pid } = metadata;
  const started = performance.now();
  process.stdout.write(`stopping "${name}" (pid ${pid}, ${open ? how : `${how}; it speaks another protocol version, so by SIGTERM`})\n`);
  try {
    if (open) await open.connection.shutdown(force);
    else await signalStop(pid, force);
  } catch {
    // The daemon may close the connection before its acknowledgement arrives: its exit is what counts.
  }
  let gone: boolean;
  try {
    gone = await waitForExit(pid, timeoutMs);
  } finally {
    open?.connection.close();
  }
  if (!gone) {
    throw new CliFailure(`singleton "${name}": pid ${pid} still runs after ${timeoutMs} ms (it goes on draining)${force ? '' : '; try --force'}`);
  }
  // A daemon removes its own metadata; one that crashed on the way out may not have.
  const leftover = removeMetadataIf(paths.metadata, metadata.instanceId);
  process.stdout.write(`stopped "${name}": pid ${pid} exited after ${formatDuration(performance.now() - started)}${leftover ? '; removed the metadata it left behind' : ''}\n`);
  return 0;
}
