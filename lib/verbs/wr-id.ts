// Work request ids: callers use 0 … 2^63-1; ids at or above 2^63 belong to the promise-level operations.
export const LIBRARY_IDS = 1n << 63n;
let nextId = LIBRARY_IDS;

export function libraryId(): bigint {
  nextId = nextId + 1n >= 1n << 64n ? LIBRARY_IDS : nextId + 1n;
  return nextId;
}

export function checkCallerIds(wrs: { wrId?: unknown }[]): void {
  for (const w of wrs)
    if (typeof w?.wrId !== 'bigint' || w.wrId < 0n || w.wrId >= LIBRARY_IDS)
      throw Object.assign(new RangeError('wrId must be a bigint from 0 to 2^63-1'), { code: 'ERR_OUT_OF_RANGE' });
}
