/**
 * Errors are not evidence. A read of a runtime file or of /proc that fails (EMFILE, ENFILE,
 * EACCES, EIO, ENOMEM...) says nothing about the file or the process: it must never be taken
 * for a damaged record or a dead daemon, which would lead to cleanup and a second daemon.
 * Such a failure ends the caller's attempt with {@link localFaultError}: a
 * `LoopbackSingletonError` (`ERR_LOOPBACK_SINGLETON`, a local fault the caller must fix, which
 * the client statechart treats as final) naming the cause and what to do. Nothing is deleted.
 */
import { LoopbackSingletonError } from '../errors.js';

/** What to do about a failed read, by errno. */
function remedy(code: string | undefined): string {
  switch (code) {
    case 'EMFILE':
      return 'this process has too many open files: raise the open-file limit (ulimit -n) or close files it does not need';
    case 'ENFILE':
      return 'the system has too many open files: raise fs.file-max or close files';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied: check the owner and mode of the runtime directory and its files';
    case 'ENOMEM':
    case 'ENOBUFS':
      return 'the system is out of memory';
    case 'EIO':
      return 'the disk reported an I/O error';
    case 'ERR_MODULE_NOT_FOUND':
    case 'ERR_INVALID_PACKAGE_CONFIG':
      return (
        'an installed copy of this library has that module, so this process is likely out of file descriptors ' +
        '(raise the open-file limit, ulimit -n, or close files it does not need; on Node 20, in a new process, as Node 20 keeps a failed import), ' +
        'or the install is incomplete (reinstall it)'
      );
    default:
      return 'the cause is local to this machine';
  }
}

/** The errno code of `error`, or of the first error in its `cause` chain that has one. */
export function errnoOf(error: unknown): string | undefined {
  for (let e = error, depth = 0; typeof e === 'object' && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const { code, syscall } = e as NodeJS.ErrnoException;
    if (typeof code === 'string' && (syscall !== undefined || /^E[A-Z]+$/.test(code)) && !code.startsWith('ERR_')) return code;
  }
  return undefined;
}

/** Errnos that mean this machine lacks a resource right now, not that a peer is gone. */
const RESOURCE_CODES = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'ENOBUFS']);

/** True when `error` (or its cause) is a lack of local resources (EMFILE, ENFILE, ENOMEM, ENOBUFS). */
export function isResourceFault(error: unknown): boolean {
  return RESOURCE_CODES.has(errnoOf(error) ?? '');
}

/** Node's errors for a module it could not load, which is how a starved process sees a file it could not open. */
const MODULE_LOAD_CODES = new Set(['ERR_MODULE_NOT_FOUND', 'ERR_INVALID_PACKAGE_CONFIG']);

/**
 * True when `error` is Node failing to load a module (`ERR_MODULE_NOT_FOUND`,
 * `ERR_INVALID_PACKAGE_CONFIG`). For the library's own modules and its dependencies, which an
 * installed copy has, that is a local fault: out of file descriptors, Node's loader reports a
 * file or a package.json it could not open as missing or invalid, with no errno to say so.
 */
export function isUnloadableModule(error: unknown): boolean {
  return MODULE_LOAD_CODES.has(String((error as { code?: unknown } | undefined)?.code));
}

/**
 * Loads one of the library's own modules, or a dependency, on first use (`import()`). A load
 * that fails for want of resources, or that Node reports as a missing or invalid module (see
 * {@link isUnloadableModule}), is a local fault: {@link localFaultError}, which a start treats
 * as final. Anything else (a syntax error in a broken install) is thrown as it is.
 */
export async function loadOwnModule<T>(what: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    throw isResourceFault(error) || isUnloadableModule(error) ? localFaultError(`load ${what}`, error) : error;
  }
}

/**
 * The error for `action` ("read /path") that failed with `error`: it names the cause and the
 * remedy, and says that nothing was cleaned up.
 */
export function localFaultError(action: string, error: unknown): LoopbackSingletonError {
  const code = errnoOf(error) ?? (isUnloadableModule(error) ? String((error as { code: unknown }).code) : undefined);
  const message = error instanceof Error ? error.message : String(error);
  return new LoopbackSingletonError(
    `Could not ${action} (${message}): ${remedy(code)}. ` +
      'Nothing was cleaned up or restarted, since this failure says nothing about the daemon; try again once it is fixed',
    { cause: error },
  );
}
