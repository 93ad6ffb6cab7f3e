// CRC-32 (IEEE 802.3, the zlib polynomial) over partner-visible blocks: detects torn reads and corruption.
// Node's zlib computes it natively (Node 20.15 and 22.2 on), far faster than a table loop in JavaScript,
// which bounds the mirror's throughput; the table serves older Node versions, and short ranges.
import * as zlib from 'node:zlib';

const zlibCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

const ZEROS = new Uint8Array(4);

/** @internal The table loop: CRC-32 of `buf[start, end)` continuing from `crc` (0 to begin). */
export function crc32Table(buf: Uint8Array, start = 0, end = buf.length, crc = 0): number {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = start; i < end; i++) c = TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Below this many bytes the table loop is cheaper than a view and a call into zlib (block headers are 64). */
const SHORT = 256;

const update = zlibCrc32
  ? (buf: Uint8Array, start: number, end: number, crc: number) =>
      end - start < SHORT ? crc32Table(buf, start, end, crc) : zlibCrc32(buf.subarray(start, end), crc)
  : crc32Table;

/**
 * CRC-32 (IEEE, zlib's polynomial; the same value as zlib's crc32()) of `buf[start, end)`, treating the
 * 4 bytes at `skip` (the stored checksum) as zero; the default `skip` of -1 zeroes nothing.
 */
export function crc32(buf: Uint8Array, start = 0, end = buf.length, skip = -1): number {
  if (skip < 0 || skip + 4 <= start || skip >= end) return update(buf, start, end, 0);
  const zeroFrom = Math.max(start, skip);
  const zeroTo = Math.min(end, skip + 4);
  let c = update(buf, start, zeroFrom, 0);
  c = update(ZEROS, 0, zeroTo - zeroFrom, c);
  return update(buf, zeroTo, end, c);
}
