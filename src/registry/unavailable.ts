/**
 * What a registry fault becomes where it is thrown: a {@link RegistryError}
 * (`ERR_REGISTRY_UNAVAILABLE`) that names the endpoints, what was being done, etcd's own
 * words, and what to check. One place, so that the client, the daemon and `list --registry`
 * say it the same way. Imports no etcd code.
 */
import { RegistryError } from '../errors.js';

/** What a person checks when etcd does not answer. */
const WHAT_TO_CHECK =
  'check that etcd runs at those endpoints, that this machine reaches them (address, port, firewall), ' +
  'and that most of its members are up (without a quorum etcd answers nothing)';

/** The first line of a thrown value's message: etcd3 and gRPC messages are one line, but a cause may not be. */
function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]!.trim();
}

/**
 * `error`, thrown by the etcd client while `doing` (`reading the record of "counter"`), as a
 * {@link RegistryError} on the registry at `where` (`etcd://127.0.0.1:2379,...`). A
 * `RegistryError` already is one and is returned as it is.
 * @example throw registryUnavailable('etcd://10.0.0.1:2379', 'listing the cluster singletons', error);
 */
export function registryUnavailable(where: string, doing: string, error: unknown): RegistryError {
  if (error instanceof RegistryError) return error;
  return new RegistryError(`etcd at ${where} did not answer ${doing}: ${firstLine(error)}; ${WHAT_TO_CHECK}`, { registry: where, cause: error });
}
