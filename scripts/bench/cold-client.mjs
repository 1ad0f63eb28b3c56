// The cold-start client, spawned by scripts/bench/main.mjs as a FRESH process with a fresh
// runtime dir and no daemon running. Usage:
//   node cold-client.mjs <json spec>    spec { runtimeDir, name, options }
// It does nothing but what a first user does: import the library, open a proxy (which starts
// the daemon) and make one call; then it prints the reply on a line of its own, the moment the
// bench measures up to. The daemon it started is left running for the bench to shut down.
import { localSingleton } from 'loopback-singleton';

const spec = JSON.parse(process.argv[2]);
const FACTORY = { module: new URL('./counter.mjs', import.meta.url), export: 'Counter' };
const counter = await localSingleton(spec.name, FACTORY, { runtimeDir: spec.runtimeDir, ...spec.options }).proxy();
process.stdout.write(`${await counter.inc()}\n`);
await counter[Symbol.asyncDispose]();
