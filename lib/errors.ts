// Errors thrown by this package carry a stable `code`; system errors also carry `errno` and `syscall`.
/**
 * An error from this package: an `Error` (or `TypeError`/`RangeError`) with a stable `code`. Errors from a
 * failed system or rdma-core call also carry `errno` and `syscall`.
 */
export interface RdmaError extends Error {
  /**
   * Stable error code: `ERR_*` for this package's own checks (e.g. ERR_INVALID_ARG_TYPE, ERR_CLOSED),
   * the errno name (e.g. ENODEV, EINVAL) for a failed system or rdma-core call.
   */
  code: string;
  /** The positive errno of a failed system or rdma-core call; absent otherwise. */
  errno?: number;
  /** Name of the call that failed, e.g. `ibv_reg_mr` or `rdma_resolve_addr`; absent when `errno` is. */
  syscall?: string;
}

/**
 * @internal The package's one error factory: an Error with `code` and any `extra` fields (errno, cause,
 * name, ...). As with Node's own errors, ERR_INVALID_ARG_TYPE is a TypeError and ERR_OUT_OF_RANGE a
 * RangeError, whichever layer throws it.
 */
export function codeError<X extends object = object>(
  code: string,
  message: string,
  extra?: X,
): RdmaError & X {
  const Ctor = code === 'ERR_INVALID_ARG_TYPE' ? TypeError : code === 'ERR_OUT_OF_RANGE' ? RangeError : Error;
  return Object.assign(new Ctor(message), { code }, extra) as RdmaError & X;
}

/** @internal The AbortError (code ABORT_ERR) that an aborted step rejects with, and a signal aborts with. */
export function abortError(reason: unknown): RdmaError {
  const msg =
    reason instanceof Error
      ? reason.message
      : typeof reason === 'string'
        ? reason
        : 'the operation was aborted';
  return codeError('ABORT_ERR', msg, { name: 'AbortError', cause: reason });
}

/**
 * True when `e` is an Error with a string `code` (as every error this package throws has), and, when
 * `code` is given, that code.
 */
export function isRdmaError(e: unknown, code?: string): e is RdmaError {
  return (
    e instanceof Error &&
    typeof (e as RdmaError).code === 'string' &&
    (code === undefined || (e as RdmaError).code === code)
  );
}
