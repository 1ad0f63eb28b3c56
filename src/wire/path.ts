/**
 * Naming a place inside a value, as JavaScript would write it (`args[0].onChange`,
 * `result.items[2]`), for the errors of what cannot cross the wire: ./values.ts (refusing a
 * value before it is sent) and ./unencodable.ts (a map key a peer sent that our decoder refused).
 */

/** One step of a path: an index, a property name, or a described step (`<key #1>`). */
export type Step = number | string | { readonly raw: string };

/** Why a value cannot cross, and where: thrown inside the walk, turned into a ProtocolError. */
export class Refusal {
  /** The path from the root, innermost step first (the walk adds steps as it unwinds). */
  readonly steps: Step[] = [];
  /** For a cycle: how many steps from the root lead to the value that contains itself. */
  constructor(
    readonly what: string,
    readonly cycleDepth?: number,
  ) {}
}

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** `path` followed by property or index `key`, as JavaScript would write it (`args[0].a`, `x["a-b"]`). */
export function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return IDENTIFIER.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** `root` followed by `steps`, outermost first. */
export function pathOf(root: string, steps: readonly Step[]): string {
  let path = root;
  for (const step of steps) path = typeof step === 'object' ? path + step.raw : childPath(path, step);
  return path;
}

/** Adds `step` to a refusal thrown below it; anything else thrown (a getter) becomes one. */
export function within(error: unknown, step: Step): Refusal {
  const refusal = error instanceof Refusal ? error : new Refusal(`threw when read (${describeThrown(error)})`);
  refusal.steps.push(step);
  return refusal;
}

function describeThrown(error: unknown): string {
  try {
    return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  } catch {
    return 'a value that cannot be printed';
  }
}
