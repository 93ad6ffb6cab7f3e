// Shared reading/writing of the common block header (magic, version, length), its checksum and its MAC.
import { mac, macEquals, MAC_SIZE } from './auth';
import { crc32c } from './crc32c';
import { ProtocolError } from './errors';
import { PROTOCOL_VERSION } from './layout';

/** A DataView over exactly the bytes of `buf` (respecting its offset into a larger buffer). */
export function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Writes the common header: magic u32 at 0, the protocol version u16 at 4, `length` u16 at 6. */
export function writeHeader(dv: DataView, magic: number, length: number): void {
  dv.setUint32(0, magic, true);
  dv.setUint16(4, PROTOCOL_VERSION, true);
  dv.setUint16(6, length, true);
}

/** Writes the CRC-32C of `buf[0, length)` at `checksumAt`, computed with that field taken as zero (`dv`: a view of `buf` the caller has). */
export function seal(buf: Uint8Array, length: number, checksumAt: number, dv = view(buf)): void {
  // Zeroed first, the field needs no skipping: one pass over the block.
  dv.setUint32(checksumAt, 0, true);
  dv.setUint32(checksumAt, crc32c(buf, 0, length), true);
}

/** A block's bytes copied out of remote memory, and a view of them. */
export interface HeaderCopy {
  bytes: Uint8Array;
  dv: DataView;
}

/** Scratch memory of `size` bytes with its view, made once, for a decoder that copies a word into it and reads it before it returns. */
export function scratch(size: number): HeaderCopy {
  const bytes = new Uint8Array(size);
  return { bytes, dv: view(bytes) };
}

/**
 * Validates magic, version, declared length and checksum of a partner-supplied block, on a copy of its
 * bytes (partners may write the live memory again at any moment: what is checked is what is used).
 * Returns the copy and its view: new memory, or `into` (scratch of exactly `length` bytes, for a
 * decoder that reads the fields it needs before its next call). Order matters for the reason given: a
 * block of zeros is "not written yet" (magic), not a checksum error.
 */
export function checkHeader(
  buf: Uint8Array,
  block: string,
  magic: number,
  length: number,
  checksumAt: number,
  into?: HeaderCopy,
): HeaderCopy {
  if (!(buf instanceof Uint8Array)) throw new ProtocolError('ERR_CCM_TRUNCATED', block, 'not a byte buffer');
  if (buf.byteLength < length)
    throw new ProtocolError('ERR_CCM_TRUNCATED', block, `${buf.byteLength} bytes, need ${length}`);
  let copy = into;
  if (copy) copy.bytes.set(buf.subarray(0, length));
  else {
    const bytes = buf.slice(0, length);
    copy = { bytes, dv: view(bytes) };
  }
  const { bytes, dv } = copy;
  const m = dv.getUint32(0, true);
  if (m !== magic)
    throw new ProtocolError('ERR_CCM_MAGIC', block, `bad magic 0x${m.toString(16).padStart(8, '0')}`);
  const v = dv.getUint16(4, true);
  if (v !== PROTOCOL_VERSION)
    throw new ProtocolError(
      'ERR_CCM_VERSION',
      block,
      `protocol version ${v}, this node speaks ${PROTOCOL_VERSION}`,
    );
  const len = dv.getUint16(6, true);
  if (len !== length)
    throw new ProtocolError('ERR_CCM_LENGTH', block, `declared length ${len}, expected ${length}`);
  const sum = dv.getUint32(checksumAt, true);
  if (sum !== crc32c(bytes, 0, length, checksumAt))
    throw new ProtocolError('ERR_CCM_CHECKSUM', block, 'checksum mismatch');
  return copy;
}

/** Reads the cluster id u64 at `at`; throws ERR_CCM_CLUSTER unless it is `expected`. */
export function checkCluster(dv: DataView, at: number, block: string, expected: bigint): bigint {
  const c = dv.getBigUint64(at, true);
  if (c !== expected)
    throw new ProtocolError('ERR_CCM_CLUSTER', block, `cluster id ${c}, expected ${expected}`);
  return c;
}

/** Writes the MAC (`size` bytes of it) over `bytes[0, at)` and any `extra` bytes bound to the block. */
export function sign(
  bytes: Uint8Array,
  at: number,
  secret: Uint8Array | undefined,
  size = MAC_SIZE,
  ...extra: Uint8Array[]
): void {
  bytes.set(mac(secret, bytes.subarray(0, at), ...extra).subarray(0, size), at);
}

/**
 * With a secret, the block must carry a valid MAC (without one, a node accepts unauthenticated peers and
 * ignores the field: docs/protocol.md, isolated fabrics only). Throws ERR_CCM_AUTH when the `size` bytes at
 * `at` are not the MAC over `bytes[0, at)` and `extra`.
 */
export function checkMac(
  bytes: Uint8Array,
  block: string,
  at: number,
  secret: Uint8Array | undefined,
  size = MAC_SIZE,
  ...extra: Uint8Array[]
): void {
  if (!secret) return;
  const want = mac(secret, bytes.subarray(0, at), ...extra).subarray(0, size);
  if (!macEquals(bytes.subarray(at, at + size), want))
    throw new ProtocolError('ERR_CCM_AUTH', block, 'not authenticated with the cluster secret');
}

/** The largest u32 (2^32 - 1). */
export const U32_MAX = 0xffffffff;

/** `v` as a bigint; throws RangeError unless it fits in an unsigned 64-bit field (`name` names it). */
export function u64(v: bigint | number, name: string): bigint {
  const b = BigInt(v);
  if (b < 0n || b > 0xffffffffffffffffn) throw new RangeError(`${name} must fit in 64 bits`);
  return b;
}

/** Little-endian bytes of u64 values, for binding values that are not in a block to its MAC. */
export function u64Bytes(...values: bigint[]): Uint8Array {
  const b = new Uint8Array(8 * values.length);
  const dv = view(b);
  values.forEach((v, i) => dv.setBigUint64(8 * i, v, true));
  return b;
}
