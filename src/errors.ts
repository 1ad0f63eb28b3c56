/**
 * Every error the library raises, in one module to import from: the stable codes
 * (./errors/codes.ts), the classes in the tree the README shows (./errors/classes.ts), and
 * how they cross the wire (./errors/wire.ts). Codes are public API and never change meaning.
 *
 * Errors cross the wire as `{ code, name, message, stack }` (see {@link WireError}) and are
 * rebuilt on the other side by code with {@link errorFromWire}.
 */
export * from './errors/classes.js';
export * from './errors/codes.js';
export * from './errors/wire.js';
