// Bundles what `npm run build` compiled (dist/src, dist/machines) into dist/bundle: the
// package's entry (`loopback-singleton`, the client) and the daemon entry it spawns, each one
// module plus shared chunks, dependencies included. Run by `npm run build` after tsc.
//
// Why: a cold start is a client process start-up followed by a daemon process start-up, and
// Node 20's ESM loader spends ~1-2 ms per module file (resolve, read, compile, link); the
// 30-odd files each entry imported (ours and its dependencies') cost each process ~60-100 ms.
// One module per entry (plus shared chunks) cuts that to the compile of the code itself.
//
// Layout invariant: every output file sits exactly one directory below dist/bundle (entries
// `client/index.js` and `daemon/main.js`, chunks `chunks/*.js`), as every compiled module sits
// one directory below dist/src. So src/client/spawn.ts's `new URL('../daemon/main.js',
// import.meta.url)` names the daemon entry of the same build, whichever file it ends up in:
// the bundled client spawns the bundled daemon, the unbundled one the unbundled daemon.
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));
const outdir = `${root}dist/bundle`;

rmSync(outdir, { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: {
    'client/index': 'dist/src/index.js',
    'daemon/main': 'dist/src/daemon/main.js',
  },
  outdir,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Dependencies written as CommonJS (proper-lockfile and its own) call `require`, which an
  // ES module does not have. The notice: the bundled packages stay `dependencies`, so their
  // licenses are installed beside this one.
  banner: {
    js: [
      '// loopback-singleton bundle. Includes code of its dependencies (see package.json), each under its own license, installed with it.',
      "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    ].join('\n'),
  },
  // Fewer bytes to parse; identifiers kept, so stacks read as in src. Not `keepNames`: it
  // wraps every named closure in a call at each creation, p-queue's per-call ones included.
  // The bundle test checks that every exported error class still has its own name.
  minifyWhitespace: true,
  minifySyntax: true,
  // Chained through tsc's maps: `node --enable-source-maps` shows the TypeScript lines.
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
});
