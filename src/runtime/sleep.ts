/** Resolves after `ms` milliseconds. Its timer is ref'd: a pending sleep keeps the process alive. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
