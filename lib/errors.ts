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

/** @internal Makes an Error, TypeError or RangeError with `code` set, for the package's own checks. */
export function codeError(code: string, message: string, kind: 'Error' | 'TypeError' | 'RangeError' = 'Error'): RdmaError {
  const Ctor = kind === 'TypeError' ? TypeError : kind === 'RangeError' ? RangeError : Error;
  const e = new Ctor(message) as RdmaError;
  e.code = code;
  return e;
}

/**
 * True when `e` is an Error with a string `code` (as every error this package throws has), and, when
 * `code` is given, that code.
 */
export function isRdmaError(e: unknown, code?: string): e is RdmaError {
  return e instanceof Error && typeof (e as RdmaError).code === 'string' && (code === undefined || (e as RdmaError).code === code);
}
