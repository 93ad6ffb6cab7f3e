// Mirrored log records as they land in a partner's ring: a 40-byte header, then the payload padded to
// 8 bytes. The header's CRC covers the header; the payload has its own CRC, so a torn or corrupted
// record is rejected instead of delivered. A record carries its session's epoch (one of another session
// is refused), belongs to a stream (a nonzero id the sender picks when it starts numbering from 1
// again) and carries its sequence number within it, so that a record sent again on a later session is
// recognised by the receiver as one it already holds.
import { crc32 } from './crc32';
import { checkHeader, seal, u64, view, writeHeader } from './codec';
import { ProtocolError } from './errors';
import { MAGIC } from './layout';

/**
 * Layout of a log record's header (magic `RCLG`): byte offsets of its fields and its size. The common
 * header (magic, version, length 40) is at 0; the payload follows at 40, padded to 8 bytes.
 */
export const LOG_HEADER = {
  /** Bytes of the header (40), also its length field. */
  size: 40,
  /** session epoch u64. */
  epoch: 8,
  /** sequence u64 within the stream, from 1. */
  sequence: 16,
  /** payload length u32 (bytes, before padding). */
  payloadLen: 24,
  /** payload CRC-32 u32. */
  payloadCrc: 28,
  /** stream id u32 (nonzero). */
  stream: 32,
  /** header CRC-32 u32 over the 40 header bytes, computed with this field zero. */
  checksum: 36,
} as const;

/** A decoded log record. */
export interface LogRecord {
  /** The epoch of the session that sent it. */
  epoch: bigint;
  /** The sender's stream id (nonzero). */
  stream: number;
  /** Its sequence within the stream, from 1. */
  sequence: bigint;
  /** A copy of the payload, validated (never a view of the ring). */
  payload: Uint8Array;
}

/** Bytes a record with this payload occupies in the ring (exact for any u32 length: no 32-bit masking). */
export function recordSize(payloadLen: number): number {
  return LOG_HEADER.size + Math.ceil(payloadLen / 8) * 8;
}

/**
 * Encodes a record into `out` (by default a new buffer of {@link recordSize} bytes; it must hold that
 * many) and returns it: header, payload, zero padding. Throws RangeError for a stream outside 1 to
 * 2^32 - 1, a sequence below 1, or an epoch or sequence out of u64 range.
 */
export function encodeRecord(epoch: bigint, stream: number, sequence: bigint, payload: Uint8Array, out: Uint8Array = new Uint8Array(recordSize(payload.byteLength))): Uint8Array {
  if (!Number.isInteger(stream) || stream < 1 || stream > 0xffffffff) throw new RangeError('stream must be an integer from 1 to 2^32-1');
  if (sequence < 1n) throw new RangeError('sequence must be at least 1');
  const dv = view(out);
  out.fill(0, 0, LOG_HEADER.size);
  writeHeader(dv, MAGIC.log, LOG_HEADER.size);
  dv.setBigUint64(LOG_HEADER.epoch, u64(epoch, 'epoch'), true);
  dv.setBigUint64(LOG_HEADER.sequence, u64(sequence, 'sequence'), true);
  dv.setUint32(LOG_HEADER.payloadLen, payload.byteLength, true);
  dv.setUint32(LOG_HEADER.payloadCrc, crc32(payload), true);
  dv.setUint32(LOG_HEADER.stream, stream, true);
  seal(out, LOG_HEADER.size, LOG_HEADER.checksum);
  out.set(payload, LOG_HEADER.size);
  out.fill(0, LOG_HEADER.size + payload.byteLength, recordSize(payload.byteLength));
  return out;
}

/**
 * Validates the record at the start of `buf` (the ring from the record's offset to the ring's end). The
 * header and the payload are copied out of the ring first and only the copies are checked and returned:
 * the partner can write the ring again at any moment. Whether its epoch and sequence number are the ones
 * due is the receiving session's and stream's decision (mirror.ts, mirror-stream.ts).
 */
export function decodeRecord(buf: Uint8Array): LogRecord {
  const { dv } = checkHeader(buf, 'log', MAGIC.log, LOG_HEADER.size, LOG_HEADER.checksum);
  const sequence = dv.getBigUint64(LOG_HEADER.sequence, true);
  if (sequence === 0n) throw new ProtocolError('ERR_CCM_FIELD', 'log', 'sequence 0');
  const stream = dv.getUint32(LOG_HEADER.stream, true);
  if (stream === 0) throw new ProtocolError('ERR_CCM_FIELD', 'log', 'stream id 0');
  const len = dv.getUint32(LOG_HEADER.payloadLen, true);
  if (recordSize(len) > buf.byteLength) throw new ProtocolError('ERR_CCM_LENGTH', 'log', `payload length ${len} overruns the ring`);
  const payload = buf.slice(LOG_HEADER.size, LOG_HEADER.size + len);
  if (crc32(payload) !== dv.getUint32(LOG_HEADER.payloadCrc, true)) throw new ProtocolError('ERR_CCM_CHECKSUM', 'log', 'payload checksum mismatch');
  return { epoch: dv.getBigUint64(LOG_HEADER.epoch, true), stream, sequence, payload };
}
