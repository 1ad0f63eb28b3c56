/**
 * The daemon process entry, started by src/client/spawn.ts with `process.execPath`, detached,
 * stdout/stderr on daemon.log and an IPC channel that carries the config in and the boot
 * report out. Its arguments: the runtime root (for the compile cache) and how long to wait
 * for the config.
 *
 * It loads the daemon's code (./serve.ts) at once, before its config has come: a process
 * started ahead of the decision to start a daemon (a standby, see src/client/standby.ts)
 * loads while its client is still loading its own code and taking the spawn lock. It is no
 * daemon until the config comes: it has no socket, no record, and imported no factory. If
 * its spawner lets go of it (the channel closes) first, it exits.
 *
 * On Node 22.1+ it first turns on Node's compile cache (see ../runtime/compile-cache.ts) in
 * the runtime root, so that the daemon's modules, its dependencies' and the factory's are
 * compiled from that cache.
 */
import { compileCacheDirIn, describeCompileCache, enableCompileCacheIn } from '../runtime/compile-cache.js';
import { invalidConfigReason, type ConfigMessage } from '../runtime/daemon-config.js';

const [root, waitArgument] = process.argv.slice(2);
const waitMs = Number(waitArgument);

if (typeof process.send !== 'function' || root === undefined || !(waitMs > 0)) {
  process.stderr.write('loopback-singleton: the daemon entry is started by the library, not by hand\n');
  process.exit(2);
}

/** Exits when the config has not come within the spawner's budget. */
const configTimer = setTimeout(
  () => {
    process.stderr.write(`loopback-singleton daemon: no config received within ${waitMs} ms; exiting\n`);
    process.exit(2);
  },
  Math.min(0x7fffffff, waitMs),
);

/** The spawner let go before it sent a config (it found a daemon, or gave up): nothing was started. */
function dismissed(): void {
  process.exit(0);
}
process.once('disconnect', dismissed);
// A spawner that died while this process was starting closed the channel before anyone listened.
if (!process.connected) dismissed();

const compileCache = describeCompileCache(enableCompileCacheIn(compileCacheDirIn(root)));
const loading = import('./serve.js');
// Reported once the config has come (a dismissed standby has nothing to report).
loading.catch(() => {});

process.once('message', (message: unknown) => {
  clearTimeout(configTimer);
  process.off('disconnect', dismissed);
  const configAtMs = performance.now();
  const reason = invalidConfigReason(message);
  if (reason !== undefined) {
    process.stderr.write(`loopback-singleton daemon: bad config (${reason}); exiting\n`);
    process.exit(2);
  }
  loading.then(
    ({ serve }) => serve(message as ConfigMessage, { compileCache, configAtMs }),
    (error: unknown) => {
      process.stderr.write(`loopback-singleton daemon: could not load the daemon: ${(error as Error)?.stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
});
