/**
 * `loopback-singleton inspect [name...]`: serves the live statechart inspector on 127.0.0.1
 * (../inspector/server.ts) and prints its address, token included, until Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { startInspector } from '../inspector/server.js';
import { CliFailure, parsePath, UsageError } from './args.js';
import type { CommandContext } from './types.js';

/** Parses `--port`: an integer from 0 (any free port) to 65535. */
export function parsePort(value: string): number {
  const port = /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!(port >= 0 && port <= 65535)) throw new UsageError(`--port must be an integer from 0 to 65535 (0: any free port), got ${JSON.stringify(value)}`);
  return port;
}

/** Opens `url` in the desktop's browser; a failure only says so. */
function openBrowser(url: string): void {
  const [command, args] = process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]];
  try {
    const child = spawn(command as string, args as string[], { stdio: 'ignore', detached: true });
    child.on('error', () => process.stderr.write(`loopback-singleton: could not open a browser (${command}); open the address above\n`));
    child.unref();
  } catch {}
}

/** Serves the inspector until SIGINT or SIGTERM; resolves 0. */
export async function run({ root, values, positionals }: CommandContext): Promise<number> {
  const port = typeof values.port === 'string' ? parsePort(values.port) : 0;
  const given = typeof values.records === 'string' ? parsePath('records', values.records) : process.env.LOOPBACK_SINGLETON_INSPECT || undefined;
  let inspector: Awaited<ReturnType<typeof startInspector>>;
  try {
    inspector = await startInspector({
      root,
      names: positionals,
      port,
      records: given === undefined ? [] : [given],
      log: (line) => process.stderr.write(`loopback-singleton inspect: ${line}\n`),
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new CliFailure(`port ${port} on 127.0.0.1 is in use; pass another --port, or 0 for any free one`);
    throw error;
  }
  const scope = positionals.length > 0 ? positionals.map((name) => `"${name}"`).join(', ') : `every singleton under ${root}`;
  process.stdout.write(`inspector: ${inspector.url}\n` + `showing ${scope}${given === undefined ? '' : `, and client transitions from ${given}`}; Ctrl-C to stop\n`);
  if (values.open === true) openBrowser(inspector.url);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await inspector.close();
  return 0;
}
