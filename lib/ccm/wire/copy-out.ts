// Copies taken out of memory that can change under them (a partner's ring, a payload its caller may
// reuse), carved from a shared slab as Node's pool does for small Buffers: a 4 KiB copy then costs a view
// and a memcpy rather than an allocation of its own. A copy may share its ArrayBuffer with other copies:
// it is read through its byteOffset and length, as any Buffer from Node's pool is.

/** Bytes of a slab, made without zeroing: every byte a copy exposes is written first. */
const SLAB = 64 << 10;
/** Copies larger than this get memory of their own (a held copy keeps at most 8 times its size alive). */
const POOLED = SLAB >> 3;

let slab = Buffer.allocUnsafeSlow(0);
/** Bytes of `slab` handed out (a full one at start: the first copy makes a slab). */
let used = SLAB;

/** A copy of `src[start, end)`. */
export function copyOut(src: Uint8Array, start = 0, end = src.byteLength): Buffer {
  const n = end - start;
  if (n > POOLED) {
    const own = Buffer.allocUnsafeSlow(n);
    own.set(src.subarray(start, end));
    return own;
  }
  if (used + n > SLAB) {
    slab = Buffer.allocUnsafeSlow(SLAB);
    used = 0;
  }
  const out = slab.subarray(used, used + n);
  out.set(src.subarray(start, end));
  used = (used + n + 7) & ~7;
  return out;
}
