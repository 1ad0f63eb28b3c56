/**
 * `loopback-singleton diagrams [--out dir]`: runs the library's own diagrams writer
 * (dist/src/diagrams/main.js, the one `npm run diagrams` runs) into `--out`, so the CLI
 * writes exactly what the repository commits.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePath } from './args.js';
import type { CommandContext } from './types.js';

const WRITER = fileURLToPath(new URL('../diagrams/main.js', import.meta.url));

/** Writes the diagrams; resolves 0, or 1 when the writer failed (it said why). */
export async function run({ values }: CommandContext): Promise<number> {
  const out = resolve(typeof values.out === 'string' ? parsePath('out', values.out) : 'diagrams');
  // A child process: the writer is a script that runs on import and sets its own exit code.
  const child = spawnSync(process.execPath, [WRITER, '--out', out], { stdio: 'inherit' });
  if (child.error) {
    process.stderr.write(`loopback-singleton: could not run the diagrams writer: ${child.error.message}\n`);
    return 1;
  }
  return child.status === 0 ? 0 : 1;
}
