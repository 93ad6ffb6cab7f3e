// Shared reading/writing of the common block header (magic, version, length) and its checksum.
import { crc32 } from './crc32';
import { ProtocolError } from './errors';
import { PROTOCOL_VERSION } from './layout';

export function view(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

export function writeHeader(dv: DataView, magic: number, length: number): void {
  dv.setUint32(0, magic, true);
  dv.setUint16(4, PROTOCOL_VERSION, true);
  dv.setUint16(6, length, true);
}

export function seal(buf: Uint8Array, length: number, checksumAt: number): void {
  view(buf).setUint32(checksumAt, crc32(buf, 0, length, checksumAt), true);
}

/**
 * Validates magic, version, declared length and checksum of a partner-supplied block; returns its view.
 * Order matters for the reason given: a block of zeros is "not written yet" (magic), not a checksum error.
 */
export function checkHeader(buf: Uint8Array, block: string, magic: number, length: number, checksumAt: number): DataView {
  if (!(buf instanceof Uint8Array)) throw new ProtocolError('ERR_CCM_TRUNCATED', block, 'not a byte buffer');
  if (buf.byteLength < length) throw new ProtocolError('ERR_CCM_TRUNCATED', block, `${buf.byteLength} bytes, need ${length}`);
  const dv = view(buf);
  const m = dv.getUint32(0, true);
  if (m !== magic) throw new ProtocolError('ERR_CCM_MAGIC', block, `bad magic 0x${m.toString(16).padStart(8, '0')}`);
  const v = dv.getUint16(4, true);
  if (v !== PROTOCOL_VERSION) throw new ProtocolError('ERR_CCM_VERSION', block, `protocol version ${v}, this node speaks ${PROTOCOL_VERSION}`);
  const len = dv.getUint16(6, true);
  if (len !== length) throw new ProtocolError('ERR_CCM_LENGTH', block, `declared length ${len}, expected ${length}`);
  const sum = dv.getUint32(checksumAt, true);
  if (sum !== crc32(buf, 0, length, checksumAt)) throw new ProtocolError('ERR_CCM_CHECKSUM', block, 'checksum mismatch');
  return dv;
}

export function checkCluster(dv: DataView, at: number, block: string, expected: bigint): bigint {
  const c = dv.getBigUint64(at, true);
  if (c !== expected) throw new ProtocolError('ERR_CCM_CLUSTER', block, `cluster id ${c}, expected ${expected}`);
  return c;
}

export const U32_MAX = 0xffffffff;

export function u64(v: bigint | number, name: string): bigint {
  const b = BigInt(v);
  if (b < 0n || b > 0xffffffffffffffffn) throw new RangeError(`${name} must fit in 64 bits`);
  return b;
}
