/**
 * `import()` of a module by absolute URL: the one dynamic import of code that is not ours
 * (the daemon's factory module). A function of its own because the bundle replaces this file
 * (scripts/bundle.mjs): there the code runs from a V8 code cache, and Node 20 loses the
 * dynamic-import hook of a script compiled from one, so the bundle's loader hands in its own.
 */
export function importModule(url: string): Promise<Record<string, unknown>> {
  return import(url) as Promise<Record<string, unknown>>;
}
