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

/**
 * The error for `action` ("read /path") that failed with `error`: it names the cause and the
 * remedy, and says that nothing was cleaned up.
 */
export function localFaultError(action: string, error: unknown): LoopbackSingletonError {
  const code = errnoOf(error);
  const message = error instanceof Error ? error.message : String(error);
  return new LoopbackSingletonError(
    `Could not ${action} (${message}): ${remedy(code)}. ` +
      'Nothing was cleaned up or restarted, since this failure says nothing about the daemon; try again once it is fixed',
    { cause: error },
  );
}
