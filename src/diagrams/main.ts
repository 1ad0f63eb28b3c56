/**
 * `npm run diagrams`: writes the generated statechart diagrams into diagrams/.
 *
 *   node dist/src/diagrams/main.js [--out <dir>] [--check]
 *
 * `--out` writes elsewhere (default: the repo's diagrams/); `--check` writes nothing and
 * exits 1, listing each stale or missing file, when the directory is out of date.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderDiagrams } from './generate.js';

const USAGE = 'usage: node dist/src/diagrams/main.js [--out <dir>] [--check]';

interface Args {
  readonly out: string | undefined;
  readonly check: boolean;
}

/** The repo root: the nearest folder above this file holding package.json and machines/. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!(existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'machines')))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('diagrams: cannot find the repo root (package.json beside machines/)');
    dir = parent;
  }
  return dir;
}

function parseArgs(argv: readonly string[]): Args | string {
  let out: string | undefined;
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--check') check = true;
    else if (arg === '--out') {
      const value = argv[++i];
      if (value === undefined || value === '') return 'Expected a directory after `--out`';
      out = value;
    } else if (arg.startsWith('--out=') && arg.length > '--out='.length) out = arg.slice('--out='.length);
    else return `Unknown argument \`${arg}\``;
  }
  return { out, check };
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const args = parseArgs(argv);
  if (typeof args === 'string') {
    process.stderr.write(`diagrams: ${args}\n${USAGE}\n`);
    return 2;
  }
  const dir = resolve(args.out ?? join(repoRoot(), 'diagrams'));
  const shown = relative(process.cwd(), dir) || '.';
  const files = await renderDiagrams();

  const stale: Array<{ readonly file: string; readonly missing: boolean }> = [];
  for (const [name, content] of files) {
    const path = join(dir, name);
    const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (current === content) continue;
    stale.push({ file: join(shown, name), missing: current === undefined });
    if (!args.check) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(path, content);
    }
  }

  if (args.check) {
    if (stale.length === 0) {
      process.stdout.write(`diagrams: ${shown} is up to date\n`);
      return 0;
    }
    const list = stale.map(({ file, missing }) => `  ${file}${missing ? ' (missing)' : ''}\n`).join('');
    process.stderr.write(`diagrams: out of date, run \`npm run diagrams\`:\n${list}`);
    return 1;
  }
  process.stdout.write(
    stale.length === 0 ? `diagrams: ${shown} is up to date\n` : stale.map(({ file, missing }) => `diagrams: wrote ${file}${missing ? ' (new)' : ''}\n`).join(''),
  );
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
