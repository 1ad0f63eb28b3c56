/**
 * Which method names a call may name: one policy, for the proxy (which refuses the others
 * itself, without a round trip: ./client/proxy.ts) and for the daemon's mailbox (which admits
 * only a public method of the hosted object: ../machines/mailbox.machine.ts). No imports, so
 * that importing the package loads no more than it did.
 */

/**
 * Names never called, whatever the object has: every member of `Object.prototype`
 * (`toString`, `__proto__`, `hasOwnProperty`, ...), `constructor`, and `then` (a hosted object
 * must not look thenable to the caller).
 */
const FORBIDDEN = new Set<string>([...Object.getOwnPropertyNames(Object.prototype), 'constructor', 'then']);

/** True when a call may name `name`: a non-empty string, not `_`-prefixed, not one of {@link FORBIDDEN}. */
export function isCallableName(name: unknown): name is string {
  return typeof name === 'string' && name.length > 0 && name.charCodeAt(0) !== 95 /* _ */ && !FORBIDDEN.has(name);
}
