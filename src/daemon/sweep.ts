/**
 * The daemon's periodic sweep, from binding until it stops serving: it keeps the runtime files
 * true (./upkeep.ts), rotates daemon.log, drops authenticated connections stalled mid-frame
 * (not a handshake matter: a handshake's whole deadline is its statechart's), and logs the
 * connections the handshake bound dropped (./admission.ts).
 */
import { MAX_HANDSHAKING_CONNECTIONS } from './admission.js';
import type { Channel } from './channel.js';
import type { DaemonLog } from './log.js';
import type { FileUpkeep } from './upkeep.js';

/** How often a serving daemon checks that metadata.json still names it. */
const METADATA_CHECK_MS = 100;

/** What a sweep looks at: the daemon's, read on every sweep. */
export interface SweepHost {
  readonly log: DaemonLog;
  /** The file upkeep, made once the daemon published its record. */
  upkeep(): FileUpkeep | undefined;
  /** The authenticated connections' channels. */
  channels(): Iterable<Channel>;
  /** How many connections awaiting their handshake were dropped since the last call. */
  takeDropped(): number;
}

/** Sweeps every ~100 ms (sooner when `stallTimeoutMs` is short); the timer is unref()ed, for the caller to clear. */
export function startSweeper(stallTimeoutMs: number, host: SweepHost): NodeJS.Timeout {
  // Also the pace of the file upkeep (./upkeep.ts): a damaged record is mended within it.
  const period = Math.max(25, Math.min(METADATA_CHECK_MS, stallTimeoutMs / 4));
  return setInterval(() => sweep(stallTimeoutMs, host), period).unref();
}

function sweep(stallTimeoutMs: number, host: SweepHost): void {
  // While serving, the daemon keeps its runtime files true (./upkeep.ts).
  host.upkeep()?.check();
  host.log.rotateIfLarge();
  const now = performance.now();
  for (const channel of host.channels()) {
    if (channel.hasPartialFrame && now - channel.frameStartedAt > stallTimeoutMs) {
      // Judged again after this turn's I/O: timers run before it, so after a synchronous
      // method blocked the loop, the rest of the frame may be waiting unread in the socket.
      const startedAt = channel.frameStartedAt;
      setImmediate(() => {
        if (channel.hasPartialFrame && channel.frameStartedAt === startedAt) {
          channel.destroy(`partial frame stalled: not complete ${stallTimeoutMs} ms after its first byte`);
        }
      });
    }
  }
  const dropped = host.takeDropped();
  if (dropped > 0) host.log.write(`dropped ${dropped} connection(s) awaiting their handshake: over ${MAX_HANDSHAKING_CONNECTIONS} at once`);
}
