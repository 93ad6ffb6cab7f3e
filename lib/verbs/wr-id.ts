// Work request ids and posting: callers use ids 0 … 2^63-1; ids at or above 2^63 belong to the promise-level operations.
import { codeError } from '../errors';
export const LIBRARY_IDS = 1n << 63n;
// The counter's ids, above those a QP's work queues number their requests with (work-queue.ts).
const COUNTED_IDS = 0xe0000000n << 32n;
let nextId = COUNTED_IDS;

const LAST_ID = (1n << 64n) - 1n;

export function libraryId(): bigint {
  nextId = nextId === LAST_ID ? COUNTED_IDS : nextId + 1n;
  return nextId;
}

export function checkCallerIds(wrs: { wrId?: unknown }[]): void {
  for (const w of wrs)
    if (typeof w?.wrId !== 'bigint' || w.wrId < 0n || w.wrId >= LIBRARY_IDS)
      throw codeError('ERR_OUT_OF_RANGE', 'wrId must be a bigint from 0 to 2^63-1');
}

/**
 * Runs a post of `count` requests and tracks the ones the device accepted: all of them, or, when the post
 * fails part way (a full queue), the `posted` first ones the error names, before the error is thrown.
 * Those are in flight like any other: their memory stays alive and their completions are routed.
 */
export function posting(count: number, track: (accepted: number) => void, post: () => void): void {
  try {
    post();
  } catch (e) {
    const accepted = (e as { posted?: unknown }).posted;
    if (typeof accepted === 'number' && accepted > 0) track(Math.min(accepted, count));
    throw e;
  }
  track(count);
}
