// Command-line flags for the repository's scripts (the soak, the bench): util.parseArgs with
// `--help` and strict checking, and one way to refuse bad input. Not part of the package.
import { parseArgs } from 'node:util';

/**
 * Parses process.argv against `options` (parseArgs' option specs; `--help`/`-h` is added).
 * `--help` prints `usage` and exits 0; an unknown or malformed flag prints one line naming
 * the script, the problem and the usage, and exits 2. Returns the parsed values.
 */
export function parseFlags(script, usage, options) {
  const fail = usageError(script, usage);
  let parsed;
  try {
    parsed = parseArgs({ options: { ...options, help: { type: 'boolean', short: 'h', default: false } }, strict: true, allowPositionals: false });
  } catch (error) {
    fail(error.message.split('\n')[0].replace(/\.$/, ''));
  }
  if (parsed.values.help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  return parsed.values;
}

/** `(message) => never`: prints `<script>: <message>. <usage>` on stderr and exits 2. */
export function usageError(script, usage) {
  return (message) => {
    process.stderr.write(`${script}: ${message}. ${usage}\n`);
    process.exit(2);
  };
}

/** `raw` as an integer from 1 to `max`, or a usage error that names `flag`. */
export function intFlag(script, usage, raw, flag, max) {
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < 1 || value > max) {
    usageError(script, usage)(`${flag} must be an integer from 1 to ${max}, got "${raw}"`);
  }
  return value;
}
