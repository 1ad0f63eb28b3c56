/**
 * The daemon process entry, started by src/client/spawn.ts with `process.execPath`, detached,
 * stdout/stderr on daemon.log and an IPC channel that carries the config in and the boot
 * report out. Kept to a few small imports on purpose: once the config has come, it turns on
 * Node's compile cache (Node 22.1+; see ../runtime/compile-cache.ts) in the runtime root the
 * config names, and only then imports the daemon itself (./serve.ts), so that the daemon's
 * modules, its dependencies' and the factory's are compiled from that cache. The config
 * arrives in the time Node takes to start anyway: waiting for it first costs nothing.
 */
import { dirname } from 'node:path';
import { compileCacheDirIn, describeCompileCache, enableCompileCacheIn } from '../runtime/compile-cache.js';
import { invalidConfigReason, type ConfigMessage } from '../runtime/daemon-config.js';

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
  const { config } = message as ConfigMessage;
  // paths.dir is <runtime root>/<name>: the cache is shared by the root's singletons.
  const compileCache = describeCompileCache(enableCompileCacheIn(compileCacheDirIn(dirname(config.paths.dir))));
  import('./serve.js').then(
    ({ serve }) => serve(message as ConfigMessage, compileCache),
    (error: unknown) => {
      process.stderr.write(`loopback-singleton daemon: could not load the daemon: ${(error as Error)?.stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
});
