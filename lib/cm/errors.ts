// CM failures as errors with a stable code: ERR_CM_<EVENT> for an event that ended a step.
import { codeError, type RdmaError } from '../errors';

/**
 * An error from a CM step (connect, accept, listen): `code` is ERR_CM_<EVENT> for a CM event that ended
 * the step (e.g. ERR_CM_REJECTED), ERR_CM_TIMEOUT, ABORT_ERR, or as for any {@link RdmaError}.
 */
export interface CmError extends RdmaError {
  /** The CM event that ended the step, e.g. REJECTED, UNREACHABLE. */
  event?: string;
  /** The event's status (for REJECTED the IB CM reject reason; otherwise a negative errno). */
  status?: number;
  /** Private data the partner sent with a reject. */
  privateData?: Buffer;
}

/** @internal An error with `code` and the given CM fields. */
export function cmError(code: string, message: string, extra: Partial<CmError> = {}): CmError {
  return codeError(code, message, extra) as CmError;
}
