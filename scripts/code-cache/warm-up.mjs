// The code-cache warm-up, run by scripts/bundle.mjs with env LOOPBACK_SINGLETON_CODE_CACHE=write:
// what a first user does (a cold start that spawns the daemon, calls) and what later users do
// (a proxy to the running daemon, ping, shutdown), so that V8 has compiled the code of those
// paths by the time each process exits and saves its cache (src/bundle/load.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeRemote, localSingleton, withCallOptions } from '../../dist/bundle/client/index.js';

const runtimeDir = mkdtempSync(join(tmpdir(), 'loopback-singleton-warm-'));
const factory = { module: new URL('./counter.mjs', import.meta.url), export: 'Counter' };
try {
  const service = localSingleton('warm-up', factory, { runtimeDir });
  const first = await service.proxy();
  await first.inc();
  await Promise.all([first.inc(2), first.later(), first.fail().catch(() => {})]);
  await withCallOptions(first, { timeoutMs: 1000 }).inc();
  const second = await localSingleton('warm-up', factory, { runtimeDir }).proxy();
  await second.inc();
  await service.ping();
  await closeRemote(second);
  await first[Symbol.asyncDispose]();
  await service.shutdown();
} finally {
  rmSync(runtimeDir, { recursive: true, force: true });
}
