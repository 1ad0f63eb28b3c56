/**
 * `loopback-singleton watch <name>`: polls `ping` on one connection and shows the daemon's
 * state, connections, queue depth and calls/s: redrawn in place on a terminal, one line
 * per sample otherwise. Ends on Ctrl-C or when the daemon closes the connection.
 */
import type { DaemonInfo } from '../types.js';
import { parseMs } from './args.js';
import type { CommandContext } from './types.js';
import { formatState } from './format.js';
import { openOrFail } from './probe.js';

const DEFAULT_INTERVAL_MS = 1000;
/** A ping unanswered for this long (at least) is reported. */
const STALL_MS = 3000;

/** The previous sample, for the call rate. */
interface Sample {
  readonly served: number;
  readonly at: number;
}

/** One sample as a line. `rate` is undefined for the first one. */
export function sampleLine(info: DaemonInfo, rate: number | undefined, now = new Date()): string {
  return [
    now.toTimeString().slice(0, 8),
    `state ${formatState(info.state)}`,
    `conns ${info.active}`,
    `queued ${info.queued}`,
    `running ${info.running}`,
    `calls/s ${rate === undefined ? '-' : rate.toFixed(1)}`,
    `served ${info.callsServed}`,
    `withdrawn ${info.callsWithdrawn}`,
  ].join('  ');
}

/** Watches the daemon of `positionals[0]` until Ctrl-C or until it goes away; resolves 0. */
export async function run({ root, values, positionals }: CommandContext): Promise<number> {
  const name = positionals[0]!;
  const intervalMs = typeof values.interval === 'string' ? parseMs('interval', values.interval, 10, 3_600_000) : DEFAULT_INTERVAL_MS;
  const { metadata, connection } = await openOrFail(root, name);
  const tty = process.stdout.isTTY === true;
  const { welcome } = connection;
  process.stdout.write(
    `watching "${name}" (pid ${metadata.pid}, ${welcome.transport} ${welcome.address}, version ${welcome.packageVersion}) every ${intervalMs} ms; Ctrl-C to stop\n`,
  );

  return new Promise<number>((resolve) => {
    let last: DaemonInfo = welcome;
    let previous: Sample | undefined;
    let samples = 0;
    let timer: NodeJS.Timeout | undefined;
    let finished = false;

    const finish = (line: string) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      stopListening();
      connection.close();
      // On a terminal the cursor is still on the redrawn line.
      process.stdout.write(`${tty && samples > 0 ? '\n' : ''}${line}\n`);
      resolve(0);
    };
    const wentAway = () =>
      finish(`daemon "${name}" went away (pid ${metadata.pid}; last seen ${formatState(last.state)}, ${last.callsServed} calls served; ${samples} samples)`);
    const onSignal = () => finish(`stopped watching "${name}" after ${samples} samples (the daemon, pid ${metadata.pid}, still runs)`);
    const stopListening = connection.onClose(wentAway);

    const show = (line: string) => {
      if (!tty) return void process.stdout.write(`${line}\n`);
      const width = process.stdout.columns;
      process.stdout.write(`\r\x1b[2K${width ? line.slice(0, width - 1) : line}`);
    };

    const sample = async () => {
      // A daemon whose event loop is blocked answers late: say so rather than look frozen.
      const stallMs = Math.max(STALL_MS, 2 * intervalMs);
      const stalled = setTimeout(() => show(`${new Date().toTimeString().slice(0, 8)}  no answer for ${stallMs / 1000}s (pid ${metadata.pid})`), stallMs);
      let info: DaemonInfo;
      try {
        info = await connection.ping();
      } catch {
        return wentAway();
      } finally {
        clearTimeout(stalled);
      }
      if (finished) return;
      const at = performance.now();
      const rate = previous === undefined ? undefined : ((info.callsServed - previous.served) * 1000) / Math.max(1, at - previous.at);
      previous = { served: info.callsServed, at };
      last = info;
      samples += 1;
      show(sampleLine(info, rate));
      timer = setTimeout(() => void sample(), intervalMs);
    };

    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    void sample();
  });
}
