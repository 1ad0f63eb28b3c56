// One client process of the multi-client figure, forked by scripts/bench/main.mjs with an IPC
// channel. Usage:
//   node worker.mjs <json spec>    spec { runtimeDir, name, options }
// It opens ONE proxy on the bench's Counter, then runs rounds of sequential inc() calls:
//
//   worker -> { t: 'ready' }                 the proxy is open
//   main   -> { t: 'go', calls }             make `calls` calls, one after the other
//   worker -> { t: 'done', calls, bad }      answered; `bad`: replies that were not a number
//                                            larger than this worker's previous one
//   main   -> { t: 'stop' }                  dispose the proxy and exit
//
// A call that fails is not caught: the worker exits 1 and the bench reports it.
import { localSingleton } from 'loopback-singleton';

const spec = JSON.parse(process.argv[2]);
const FACTORY = { module: new URL('./counter.mjs', import.meta.url), export: 'Counter' };
const counter = await localSingleton(spec.name, FACTORY, { runtimeDir: spec.runtimeDir, ...spec.options }).proxy();

// The shared counter only grows, so each worker sees its own replies strictly increase.
let previous = 0;
process.on('message', async (message) => {
  if (message.t === 'go') {
    let bad = 0;
    for (let i = 0; i < message.calls; i++) {
      const value = await counter.inc();
      if (!(typeof value === 'number' && value > previous)) bad++;
      previous = value;
    }
    process.send({ t: 'done', calls: message.calls, bad });
  } else if (message.t === 'stop') {
    await counter[Symbol.asyncDispose]();
    process.disconnect();
  }
});
// The bench gone (Ctrl-C, a crash): do not linger.
process.on('disconnect', () => process.exit(0));
process.send({ t: 'ready' });
