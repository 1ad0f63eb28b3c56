/**
 * The daemon process, once ./main.ts (its entry) has its config: runs the daemon's
 * statechart, sends the boot report over the spawn channel, and wires signals and crashes
 * to the statechart.
 */
import type { BootReport, ConfigMessage } from '../runtime/daemon-config.js';
import { Daemon } from './daemon.js';
import { DaemonLog } from './log.js';
import { startRecordingModules } from './module-recorder.js';

/** Sends the boot report, then lets go of the spawner: the daemon outlives it. */
let reportSent: Promise<void> = Promise.resolve();
function report(message: BootReport): void {
  reportSent = new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(message, undefined, undefined, () => {
      if (process.connected) process.disconnect();
      resolve();
    });
  });
}

/** What the entry (./main.ts) tells the daemon of its own start, for the log. */
export interface EntryReport {
  /** What came of the compile cache. */
  readonly compileCache: string;
  /** When the config came, in ms after the process started (a standby waits for it). */
  readonly configAtMs: number;
}

/** Serves `config` until the daemon ends, then exits the process. */
export async function serve({ config }: ConfigMessage, entry: EntryReport): Promise<void> {
  const log = new DaemonLog(config.paths.log);
  log.write(
    `boot: ${config.name}, factory ${config.factory.module}#${config.factory.export}, node ${process.version}, ` +
      `start budget ${config.bootTimeoutMs} ms, started as ${config.startReason}, compile cache: ${entry.compileCache}, ` +
      `config received ${Math.round(entry.configAtMs)} ms and code loaded by ${Math.round(performance.now())} ms after the process started`,
  );
  // Before the factory is imported: the files it loads are part of the code it runs.
  log.write(`recording the factory's local modules: ${startRecordingModules()}`);
  const daemon = new Daemon(config, log, report, config.budgetFromConfig === true ? entry.configAtMs : 0);
  // Every exit is logged, whoever calls process.exit (the hosted code too): a dead daemon
  // without this line was killed by a signal it cannot catch (SIGKILL) or lost its machine.
  let outcome: string | undefined;
  process.on('exit', (code) => {
    log.write(`exit ${code} (${outcome ?? 'process.exit() called during its run, by the hosted code or a dependency'})`);
    log.close();
  });

  // Let it crash: the failure is logged, metadata unpublished, and the exit code non-zero.
  process.on('uncaughtException', (error) => daemon.crash(error));
  process.on('unhandledRejection', (reason) => daemon.crash(reason));
  let signals = 0;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      const force = ++signals > 1;
      log.write(`received ${signal}: ${force ? 'forced' : 'graceful'} shutdown`);
      daemon.shutdownRequested(force);
    });
  }
  process.on('SIGHUP', () => log.write('received SIGHUP: ignored (the daemon outlives its terminal)'));

  const ended = await daemon.run();
  await reportSent;
  outcome = ended;
  process.exit(ended === 'stopped' ? 0 : 1);
}
