/**
 * The CLI's argument layer: the two ways a command fails (bad usage, exit 2; an operation
 * that could not be done, exit 1) and the checks every command shares, done once at the
 * boundary with node:util's strict parseArgs.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { invalidNameReason } from '../runtime/paths.js';

/** Bad arguments: main prints the message on one line and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly exitCode = 2;
}

/** The command was understood but could not be carried out: one line, exit 1. */
export class CliFailure extends Error {
  override readonly name = 'CliFailure';
  readonly exitCode = 1;
}

/** Option definitions in parseArgs' shape. */
export type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

/** What a command line parsed into. */
export interface ParsedLine {
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  readonly positionals: readonly string[];
}

/** The first sentence of a parseArgs message, lower-cased, after the command's name. */
function oneLine(message: string, command: string | undefined): string {
  const first = (message.split('\n')[0] ?? message).split('. ')[0]!.replace(/\.$/, '');
  return `${command ? `${command}: ` : ''}${first.charAt(0).toLowerCase()}${first.slice(1)}`;
}

/**
 * Parses `args` strictly against `options`; errors name `command` when given.
 * @throws {UsageError} on an unknown option, a missing value or a value given to a flag.
 */
export function parseLine(args: readonly string[], options: OptionSpecs, allowPositionals: boolean, command: string | undefined): ParsedLine {
  try {
    const { values, positionals } = parseArgs({ args: [...args], options, strict: true, allowPositionals });
    return { values: values as ParsedLine['values'], positionals };
  } catch (error) {
    if (typeof (error as NodeJS.ErrnoException).code === 'string' && (error as NodeJS.ErrnoException).code!.startsWith('ERR_PARSE_ARGS')) {
      throw new UsageError(oneLine((error as Error).message, command));
    }
    throw error;
  }
}

/**
 * Finds the command: the first positional of `args` (option values are skipped, knowing
 * which options take one). Returns its index, or -1 when there is none.
 */
export function findCommand(args: readonly string[], options: OptionSpecs): number {
  const { tokens } = parseArgs({ args: [...args], options, strict: false, allowPositionals: true, tokens: true });
  const first = tokens.find((token) => token.kind === 'positional' || token.kind === 'option-terminator');
  return first?.kind === 'positional' ? first.index : -1;
}

/**
 * A singleton name, checked as the library checks it.
 * @throws {UsageError} when it could not name a runtime directory.
 */
export function parseName(value: string): string {
  const reason = invalidNameReason(value);
  if (reason !== undefined) throw new UsageError(`invalid singleton name: ${reason}`);
  return value;
}

/**
 * A whole number of milliseconds within [min, max].
 * @throws {UsageError} naming the option and the value it got.
 */
export function parseMs(option: string, value: string, min: number, max: number): number {
  const ms = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < min || ms > max) {
    throw new UsageError(`expected \`--${option}\` to be a whole number of ms between ${min} and ${max}, got ${JSON.stringify(value)}`);
  }
  return ms;
}

/**
 * A non-empty path option.
 * @throws {UsageError} when it is empty.
 */
export function parsePath(option: string, value: string): string {
  if (value.trim() === '') throw new UsageError(`expected \`--${option}\` to be a directory, got an empty string`);
  return value;
}
