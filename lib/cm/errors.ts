// CM failures as errors with a stable code: ERR_CM_<EVENT> for an event that ended a step.
import type { RdmaError } from '../errors';

export interface CmError extends RdmaError {
  /** The CM event that ended the step, e.g. REJECTED, UNREACHABLE. */
  event?: string;
  /** The event's status (for REJECTED the IB CM reject reason; otherwise a negative errno). */
  status?: number;
  /** Private data the partner sent with a reject. */
  privateData?: Buffer;
}

export function cmError(code: string, message: string, extra: Partial<CmError> = {}): CmError {
  return Object.assign(new Error(message), { code }, extra) as CmError;
}

export function abortError(reason: unknown): CmError {
  const msg = reason instanceof Error ? reason.message : typeof reason === 'string' ? reason : 'the operation was aborted';
  return Object.assign(new Error(msg), { name: 'AbortError', code: 'ABORT_ERR', cause: reason }) as CmError;
}
