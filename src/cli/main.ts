#!/usr/bin/env node
/**
 * The `loopback-singleton` command: finds the command, parses its arguments strictly,
 * answers `--help`, then loads only that command's module and runs it.
 *
 * Exit codes: 0 done, 1 the operation failed, 2 bad arguments. Every failure is one line
 * on stderr starting with `loopback-singleton:`.
 */
import { resolveRuntimeRoot } from '../runtime/paths.js';
import { PACKAGE_VERSION } from '../version.js';
import { CliFailure, findCommand, parseLine, parsePath, parseName, UsageError } from './args.js';
import { COMMANDS, commandHelp, GLOBAL_OPTIONS, parseOptions, topHelp, type CommandSpec } from './commands.js';

const TOP_OPTIONS = parseOptions({ ...GLOBAL_OPTIONS, version: { type: 'boolean', help: '' } });

/** Every option of every command: lets the command be found even after option values. */
function allOptions(): ReturnType<typeof parseOptions> {
  const merged = { ...TOP_OPTIONS };
  for (const spec of COMMANDS) Object.assign(merged, parseOptions(spec.options));
  return merged;
}

function runTopLevel(args: readonly string[]): number {
  const { values } = parseLine(args, TOP_OPTIONS, false, undefined);
  if (values.help) {
    process.stdout.write(topHelp());
    return 0;
  }
  if (values.version) {
    process.stdout.write(`${PACKAGE_VERSION}\n`);
    return 0;
  }
  throw new UsageError("missing command; run 'loopback-singleton --help' for the list");
}

async function runCommand(spec: CommandSpec, args: readonly string[]): Promise<number> {
  const { values, positionals } = parseLine(args, parseOptions({ ...spec.options, ...GLOBAL_OPTIONS }), true, spec.name);
  if (values.help) {
    process.stdout.write(commandHelp(spec));
    return 0;
  }
  const { min, max, label } = spec.positionals;
  if (positionals.length < min) throw new UsageError(`${spec.name}: missing <${label}>; usage: loopback-singleton ${spec.name} ${spec.synopsis}`);
  if (positionals.length > max) throw new UsageError(`${spec.name}: unexpected argument ${JSON.stringify(positionals[max])}`);
  if (label === 'name') positionals.forEach(parseName);
  const runtimeDir = values['runtime-dir'];
  const root = resolveRuntimeRoot(typeof runtimeDir === 'string' ? parsePath('runtime-dir', runtimeDir) : undefined);
  const module = await spec.load();
  return module.run({ root, values, positionals });
}

/** Runs the command line `args`; resolves with the exit code. Never throws. */
export async function main(args: readonly string[]): Promise<number> {
  try {
    const at = findCommand(args, allOptions());
    if (at === -1) return runTopLevel(args);
    const name = args[at]!;
    const spec = COMMANDS.find((command) => command.name === name);
    if (!spec) throw new UsageError(`unknown command ${JSON.stringify(name)}; commands: ${COMMANDS.map((command) => command.name).join(', ')}`);
    return await runCommand(spec, [...args.slice(0, at), ...args.slice(at + 1)]);
  } catch (error) {
    if (error instanceof UsageError || error instanceof CliFailure) {
      process.stderr.write(`loopback-singleton: ${error.message}\n`);
      return error.exitCode;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`loopback-singleton: unexpected failure: ${message.split('\n')[0]}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
