// Bundles what `npm run build` compiled (dist/src, dist/machines) into dist/bundle: the
// package's entry (`loopback-singleton`, the client) and the daemon entry it spawns, then
// runs one cold start so that both leave a V8 code cache beside their code. Run by
// `npm run build` after tsc.
//
// Why: a cold start is a client process start-up followed by a daemon process start-up. In
// each, Node 20's ESM loader spent ~1-2 ms per module file (resolve, read, compile, link) on
// the 30-odd files an entry imported, and V8 then compiled the library lazily, function by
// function, as the cold path first ran it. So each process loads ONE CommonJS file with its
// dependencies in it, compiled from the code cache the warm-up below leaves (see
// src/bundle/load.ts for how the cache is checked).
//
//   dist/bundle/lib/client.cjs    the client library, dependencies included (+ .v8cache)
//   dist/bundle/lib/daemon.cjs    the daemon (+ .v8cache); it loads no client code
//   dist/bundle/lib/load.cjs      the loader (src/bundle/load.ts)
//   dist/bundle/client/index.js   the package entry: an ES module re-exporting client.cjs
//   dist/bundle/daemon/main.js    the daemon entry the client spawns: CommonJS (its folder's
//                                 package.json says so), so Node sets up no ES module loader
//                                 for it; the factory's import() does when it needs one
//
// Layout invariant: client.cjs sits one directory below dist/bundle, as every compiled module
// sits one directory below dist/src. So src/client/spawn.ts's `new URL('../daemon/main.js',
// import.meta.url)` names the daemon entry of the same build, whichever file it ends up in:
// the bundled client spawns the bundled daemon, the unbundled one the unbundled daemon.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('../', import.meta.url));
const outdir = `${root}dist/bundle`;
const NOTICE =
  '// loopback-singleton bundle. Includes code of its dependencies (see package.json), each under its own license, installed with it.';

/**
 * src/runtime/import-module.ts's `import()` becomes the importer the loader hands in
 * (`__loopbackImport`): Node 20 drops the dynamic-import hook of a script compiled from a
 * code cache, and the daemon imports the factory module from such a script. A library that
 * Node's own loader runs (`require`, with source maps on) has no such parameter, and its
 * `import()` works.
 */
const importThroughLoader = {
  name: 'import-through-loader',
  setup(build) {
    build.onLoad({ filter: /[\\/]dist[\\/]src[\\/]runtime[\\/]import-module\.js$/ }, () => ({
      contents: "export function importModule(url) { return typeof __loopbackImport === 'function' ? __loopbackImport(url) : import(url); }",
      loader: 'js',
    }));
  },
};

rmSync(outdir, { recursive: true, force: true });

const shared = {
  absWorkingDir: root,
  outdir,
  bundle: true,
  platform: 'node',
  target: 'node20',
  // Fewer bytes to parse; identifiers kept, so stacks read as in src. Not `keepNames`: it
  // wraps every named closure in a call at each creation, p-queue's per-call ones included.
  // The bundle test checks that every exported error class still has its own name.
  minifyWhitespace: true,
  minifySyntax: true,
  // Chained through tsc's maps: `node --enable-source-maps` shows the TypeScript lines (the
  // loader then lets Node's own loader run the library: see src/bundle/load.ts).
  sourcemap: 'linked',
  legalComments: 'linked',
  logLevel: 'warning',
};

// The two libraries (what `vm.Script` compiles with a cache) and the loader: CommonJS, one
// file each.
await build({
  ...shared,
  entryPoints: { 'lib/client': 'dist/src/index.js', 'lib/daemon': 'dist/src/daemon/main.js', 'lib/load': 'dist/src/bundle/load.js' },
  outExtension: { '.js': '.cjs' },
  format: 'cjs',
  define: { 'import.meta.url': '__bundleUrl' },
  banner: { js: `${NOTICE}\nvar __bundleUrl = require("node:url").pathToFileURL(__filename).href;` },
  plugins: [importThroughLoader],
});

// The entries. The client's lists the library's exports by name, as ES modules must.
const require = createRequire(import.meta.url);
const { loadBundle } = require(`${outdir}/lib/load.cjs`);
const names = Object.keys(loadBundle(`${outdir}/lib/client.cjs`).exports);
mkdirSync(`${outdir}/client`);
mkdirSync(`${outdir}/daemon`);
writeFileSync(
  `${outdir}/client/index.js`,
  [
    NOTICE,
    // Through `require`: an `import` of a CommonJS file first scans it for export names.
    "import { createRequire } from 'node:module';",
    "const { loadBundle } = createRequire(import.meta.url)('../lib/load.cjs');",
    "const library = loadBundle(new URL('../lib/client.cjs', import.meta.url)).exports;",
    `export const { ${names.join(', ')} } = library;`,
    '',
  ].join('\n'),
);
writeFileSync(`${outdir}/daemon/package.json`, `${JSON.stringify({ type: 'commonjs' })}\n`);
writeFileSync(
  `${outdir}/daemon/main.js`,
  [NOTICE, "require('../lib/load.cjs').loadBundle(require('node:path').join(__dirname, '../lib/daemon.cjs'));", ''].join('\n'),
);

// The warm-up: a cold start, a warm connect, calls, a shutdown; each process saves its cache.
const warm = spawnSync(process.execPath, [fileURLToPath(new URL('./code-cache/warm-up.mjs', import.meta.url))], {
  cwd: root,
  env: { ...process.env, LOOPBACK_SINGLETON_CODE_CACHE: 'write' },
  stdio: 'inherit',
  timeout: 60_000,
});
const missing = ['client', 'daemon'].filter((lib) => !existsSync(`${outdir}/lib/${lib}.cjs.v8cache`));
if (warm.status !== 0 || missing.length > 0) {
  console.error(
    `bundle: the code-cache warm-up failed (${warm.error?.message ?? `exit ${warm.status ?? warm.signal}`}${missing.length > 0 ? `, no cache for ${missing.join(' and ')}` : ''})`,
  );
  process.exit(1);
}
