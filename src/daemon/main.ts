/**
 * The daemon process entry. Started by src/client/spawn.ts with `process.execPath`,
 * detached, stdout/stderr on daemon.log and an IPC channel that carries the config in and
 * the boot report out. Wires signals and crashes to the daemon's statechart.
 */
import type { BootReport } from '../runtime/daemon-config.js';
import { invalidConfigReason, type ConfigMessage } from '../runtime/daemon-config.js';
import { Daemon } from './daemon.js';
import { DaemonLog } from './log.js';
import { startRecordingModules } from './module-recorder.js';

/** How long a fresh daemon waits for its config before giving up. */
const CONFIG_TIMEOUT_MS = 10_000;

if (typeof process.send !== 'function') {
  process.stderr.write('loopback-singleton: the daemon entry is started by the library, not by hand\n');
  process.exit(2);
}

const configTimer = setTimeout(() => {
  process.stderr.write('loopback-singleton daemon: no config received; exiting\n');
  process.exit(2);
}, CONFIG_TIMEOUT_MS);

process.once('message', (message: unknown) => {
  clearTimeout(configTimer);
  const reason = invalidConfigReason(message);
  if (reason !== undefined) {
    process.stderr.write(`loopback-singleton daemon: bad config (${reason}); exiting\n`);
    process.exit(2);
  }
  void serve(message as ConfigMessage);
});

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

async function serve({ config }: ConfigMessage): Promise<void> {
  const log = new DaemonLog(config.paths.log);
  log.write(
    `boot: ${config.name}, factory ${config.factory.module}#${config.factory.export}, node ${process.version}, ` +
      `start budget ${config.bootTimeoutMs} ms, started as ${config.startReason}`,
  );
  // Before the factory is imported: the files it loads are part of the code it runs.
  log.write(`recording the factory's local modules: ${startRecordingModules()}`);
  const daemon = new Daemon(config, log, report);
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
