// CRC-32C (Castagnoli) over partner-visible blocks and log records: detects torn reads and corruption.
// The addon computes a long range with the CPU's crc32 instruction (SSE 4.2; a slicing table elsewhere),
// which keeps a 4 KiB record's check at a small part of its cost; below SHORT bytes the table loop here
// costs less than the call into the addon, and it serves where the addon does not load.

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

const ZEROS = new Uint8Array(4);

/** @internal The table loop: CRC-32C of `buf[start, end)` continuing from `crc` (0 to begin). */
export function crc32cTable(buf: Uint8Array, start = 0, end = buf.length, crc = 0): number {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = start; i < end; i++) c = TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Below this many bytes the table loop is cheaper than a call into the addon (block headers are 64). */
const SHORT = 80;

type Range = (buf: Uint8Array, start: number, end: number, crc: number) => number;

// The addon is loaded on the first long range, not at import: the wire layer is also used where no
// device is (the CLI's --help, the fuzzers), and a missing addon leaves the table loop.
let long: Range | undefined;
function native(): Range {
  try {
    return (require('../../native') as typeof import('../../native')).native.crc32c;
  } catch {
    return crc32cTable;
  }
}

function update(buf: Uint8Array, start: number, end: number, crc: number): number {
  return end - start < SHORT ? crc32cTable(buf, start, end, crc) : (long ??= native())(buf, start, end, crc);
}

/**
 * CRC-32C (Castagnoli, as iSCSI and ext4 use it) of `buf[start, end)`, treating the 4 bytes at `skip`
 * (the stored checksum) as zero; the default `skip` of -1 zeroes nothing.
 */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length, skip = -1): number {
  if (skip < 0 || skip + 4 <= start || skip >= end) return update(buf, start, end, 0);
  const zeroFrom = Math.max(start, skip);
  const zeroTo = Math.min(end, skip + 4);
  let c = update(buf, start, zeroFrom, 0);
  c = update(ZEROS, 0, zeroTo - zeroFrom, c);
  return update(buf, zeroTo, end, c);
}
