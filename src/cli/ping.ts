/**
 * `loopback-singleton ping <name>`: one ping over the protocol; the daemon's live info as
 * text or as the JSON object it sent.
 */
import type { DaemonInfo } from '../types.js';
import { CliFailure } from './args.js';
import type { CommandContext } from './types.js';
import { formatDuration, formatState, printJson } from './format.js';
import { openOrFail } from './probe.js';

function describe(name: string, info: DaemonInfo): string {
  const rows: Array<[string, string]> = [
    ['name', name],
    ['pid', String(info.pid)],
    ['state', formatState(info.state)],
    ['address', `${info.transport} ${info.address}`],
    ['connections', String(info.active)],
    ['queued', String(info.queued)],
    ['running', String(info.running)],
    ['calls served', String(info.callsServed)],
    ['calls withdrawn', String(info.callsWithdrawn)],
    ['uptime', formatDuration(Date.now() - info.startedAt)],
    ['idle ttl', formatDuration(info.idleTtlMs)],
    ['version', `${info.packageVersion} (protocol ${info.protocolVersion})`],
    ['factory', `${info.factory.module}#${info.factory.export}`],
    ['start reason', info.startReason],
  ];
  return rows.map(([key, value]) => `${`${key}:`.padEnd(14)}${value}\n`).join('');
}

/** Pings the daemon of `positionals[0]`. */
export async function run({ root, values, positionals }: CommandContext): Promise<number> {
  const name = positionals[0]!;
  const { connection } = await openOrFail(root, name);
  let info: DaemonInfo;
  try {
    info = await connection.ping();
  } catch (error) {
    throw new CliFailure(`singleton "${name}": the daemon did not answer the ping: ${(error as Error).message}`);
  } finally {
    connection.close();
  }
  if (values.json) printJson(info);
  else process.stdout.write(describe(name, info));
  return 0;
}
