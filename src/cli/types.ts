/**
 * What a command's implementation receives and exports. Its own module, so that the command
 * files (which ./commands.ts loads by dynamic import) and ./commands.ts do not import each
 * other.
 */
import type { ParsedLine } from './args.js';

/** What a command's implementation receives. */
export interface CommandContext extends ParsedLine {
  /** The runtime root: `--runtime-dir`, else the library's default. */
  readonly root: string;
}

/** A command's implementation module; `run` resolves with the exit code. */
export interface CommandModule {
  run(context: CommandContext): Promise<number>;
}
