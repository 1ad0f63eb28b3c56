/**
 * A TypeScript factory module that this Node cannot run: the import's own error (a bare
 * `Unknown file extension ".ts"` on Node 20) gets a message that says what to do, and keeps its
 * name and code (the client's FactoryError shows them as `remoteName` and `remoteCode`).
 * Node 22.18+ and 24 strip types natively; elsewhere a loader the daemon inherits does it.
 */

const TYPESCRIPT_FILE = /\.[cm]?ts$/;

/** What to do, on any Node, to run a `.ts` factory module. */
const REMEDY =
  'Run the client on Node 22.18+ or 24, which run type-strippable TypeScript natively; or start the client with a TypeScript loader, ' +
  "which the daemon inherits (`node --import tsx app.js`), or give the daemon one with the `execArgv` option (`execArgv: ['--import', 'tsx']`); " +
  'or point `factory` at the compiled .js file.';

/**
 * What to say about this Node's own type stripping, given its version and
 * `process.features.typescript`: 22.6-22.17 and 23.0-23.5 have it behind a flag; on later ones
 * `false` means it was turned off.
 */
export function stripFlagHint(version: string = process.versions.node, feature: unknown = (process.features as { typescript?: unknown }).typescript): string {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if ((major === 22 && minor >= 6 && minor < 18) || (major === 23 && minor < 6)) return ' On this Node, `--experimental-strip-types` turns type stripping on.';
  if (feature === false) return ' Type stripping is turned off in this process (`--no-experimental-strip-types`): leave that flag out.';
  return '';
}

/** `error` with `message` instead of its own: same name and code, the original as its cause. */
function explained(error: Error, message: string): Error {
  const clear = new Error(message, { cause: error });
  clear.name = error.name;
  Object.defineProperty(clear, 'code', { value: (error as { code?: unknown }).code, enumerable: true });
  return clear;
}

/**
 * The import error `error` of the factory module `moduleUrl`, explained when the module is
 * TypeScript that this Node could not run; undefined for any other error.
 */
export function explainTypeScriptImportError(moduleUrl: string, error: unknown): Error | undefined {
  if (!(error instanceof Error) || !TYPESCRIPT_FILE.test(new URL(moduleUrl).pathname)) return undefined;
  const code = (error as { code?: unknown }).code;
  if (code === 'ERR_UNKNOWN_FILE_EXTENSION') {
    return explained(
      error,
      `The factory module ${moduleUrl} is TypeScript, which this Node (${process.version}) does not run as the daemon was started.${stripFlagHint()} ${REMEDY}`,
    );
  }
  if (code === 'ERR_UNSUPPORTED_TYPESCRIPT_SYNTAX') {
    return explained(
      error,
      `The factory module ${moduleUrl} uses TypeScript that Node's type stripping cannot erase (${error.message.split('\n')[0]}). ` +
        'Keep to erasable syntax (no `enum`, `namespace` or constructor parameter properties; `erasableSyntaxOnly` in tsconfig checks it), ' +
        "or run the daemon with `--experimental-transform-types` or a loader such as tsx (inherited from the client, or `execArgv: ['--import', 'tsx']`).",
    );
  }
  return undefined;
}
