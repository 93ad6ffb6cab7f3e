// CRC-32 (IEEE 802.3, the zlib polynomial) over partner-visible blocks: detects torn reads and corruption.
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32 (IEEE, zlib's polynomial; the same value as zlib's crc32()) of `buf[start, end)`, treating the
 * 4 bytes at `skip` (the stored checksum) as zero; the default `skip` of -1 zeroes nothing.
 */
export function crc32(buf: Uint8Array, start = 0, end = buf.length, skip = -1): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) {
    const b = i >= skip && i < skip + 4 && skip >= 0 ? 0 : buf[i];
    c = TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}
