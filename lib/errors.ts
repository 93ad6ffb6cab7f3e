// Errors thrown by this package carry a stable `code`; system errors also carry `errno` and `syscall`.
export interface RdmaError extends Error {
  code: string;
  errno?: number;
  syscall?: string;
}

export function codeError(code: string, message: string, kind: 'Error' | 'TypeError' | 'RangeError' = 'Error'): RdmaError {
  const Ctor = kind === 'TypeError' ? TypeError : kind === 'RangeError' ? RangeError : Error;
  const e = new Ctor(message) as RdmaError;
  e.code = code;
  return e;
}

export function isRdmaError(e: unknown, code?: string): e is RdmaError {
  return e instanceof Error && typeof (e as RdmaError).code === 'string' && (code === undefined || (e as RdmaError).code === code);
}
