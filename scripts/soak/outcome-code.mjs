// What a failed call, proxy() or shutdown counts as in the soak's report: the error's code, or
// NO_CODE, and one code of the soak's own for a FactoryError that is the daemon's boot timeout.

/**
 * The code `error` is counted under. A daemon that did not finish creating the object within its
 * boot timeout fails its start with `ERR_FACTORY` (README: FactoryError, "boot timeout"): the
 * soak's counter factory returns at once, so that is a daemon the chaos froze (SIGSTOP, a busy
 * neighbour) or the machine starved while it booted on a short restart budget, which it cannot
 * tell from a hanging factory. It is counted apart, so that any other `ERR_FACTORY` stays a bug.
 */
export function outcomeCode(error) {
  const code = typeof error?.code === 'string' ? error.code : 'NO_CODE';
  if (code === 'ERR_FACTORY' && /did not finish creating the object \(the factory is hanging\) within its boot timeout/.test(String(error?.message))) {
    return 'ERR_FACTORY_BOOT_TIMEOUT';
  }
  return code;
}
