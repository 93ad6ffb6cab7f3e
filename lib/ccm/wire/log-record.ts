// Mirrored log records as they land in a partner's ring: a 64-byte header, then the payload padded to
// 8 bytes. The header's CRC covers the header; the payload has its own CRC, so a torn or corrupted
// record is rejected instead of delivered. A record carries its session's epoch (one of another session
// is refused), belongs to a stream (a nonzero id the sender picks when it starts numbering from 1
// again) and carries its sequence number within it, so that a record sent again on a later session is
// recognised by the receiver as one it already holds. It also says how far its append goes
// (durability), which record before it the receiver was last asked to deliver (prior), and the last
// record its writer knew to be safe when it wrote it (acknowledged): a replay from the ring after the
// writer died marks what lies beyond that as not known to be acknowledged.
import { crc32c } from './crc32c';
import { checkHeader, scratch, seal, u64, view, writeHeader } from './codec';
import { copyOut } from './copy-out';
import { ProtocolError } from './errors';
import { DURABILITY, MAGIC, type Durability } from './layout';

/**
 * Layout of a log record's header (magic `RCLG`): byte offsets of its fields and its size. The common
 * header (magic, version, length 64) is at 0; the payload follows at 64, padded to 8 bytes.
 */
export const LOG_HEADER = {
  /** Bytes of the header (64), also its length field. */
  size: 64,
  /** session epoch u64. */
  epoch: 8,
  /** sequence u64 within the stream, from 1. */
  sequence: 16,
  /** payload length u32 (bytes, before padding). */
  payloadLen: 24,
  /** payload CRC-32C u32. */
  payloadCrc: 28,
  /** stream id u32 (nonzero). */
  stream: 32,
  /** durability u8: index in {@link DURABILITY} plus 1; the three bytes after it are zero. */
  durability: 36,
  /** prior u64: the sequence of the stream's last record before this one sent for delivery (0: none). */
  prior: 40,
  /** acknowledged u64: the last sequence of the stream its writer knew to be safe when it wrote this one. */
  acknowledged: 48,
  /** reserved u32, zero. */
  reserved: 56,
  /** header CRC-32C u32 over the 64 header bytes, computed with this field zero. */
  checksum: 60,
} as const;

/** What a record says besides its numbering: how far its append goes, and what its writer knew. */
export interface RecordMeta {
  /** How far the append goes before it resolves (default `delivered`): only `delivered` records are delivered to the partner's application. */
  durability?: Durability;
  /** The stream's last record before this one that was sent for delivery (0n: none). */
  prior?: bigint;
  /** The last sequence of the stream its writer knew to be safe when it wrote this one (0n: none). */
  acknowledged?: bigint;
}

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
  /** How far its append goes. */
  durability: Durability;
  /** The stream's last record before it sent for delivery (0n: none). */
  prior: bigint;
  /** The last sequence its writer knew to be safe when it wrote it. */
  acknowledged: bigint;
}

/** Bytes a record with this payload occupies in the ring (exact for any u32 length: no 32-bit masking). */
export function recordSize(payloadLen: number): number {
  return LOG_HEADER.size + Math.ceil(payloadLen / 8) * 8;
}

/**
 * Encodes a record into `out` (by default a new buffer of {@link recordSize} bytes; it must hold that
 * many) and returns it: header, payload, zero padding. Throws RangeError for a stream outside 1 to
 * 2^32 - 1, a sequence below 1, a prior not below the sequence, or a field out of u64 range.
 */
export function encodeRecord(
  epoch: bigint,
  stream: number,
  sequence: bigint,
  payload: Uint8Array,
  meta: RecordMeta = {},
  out: Uint8Array = new Uint8Array(recordSize(payload.byteLength)),
): Uint8Array {
  if (!Number.isInteger(stream) || stream < 1 || stream > 0xffffffff)
    throw new RangeError('stream must be an integer from 1 to 2^32-1');
  if (sequence < 1n) throw new RangeError('sequence must be at least 1');
  const prior = meta.prior ?? 0n;
  if (prior < 0n || prior >= sequence) throw new RangeError('prior must be below the sequence');
  if ((meta.acknowledged ?? 0n) >= sequence) throw new RangeError('acknowledged must be below the sequence');
  const durability = DURABILITY.indexOf(meta.durability ?? 'delivered');
  if (durability < 0) throw new RangeError(`durability must be one of ${DURABILITY.join(', ')}`);
  const dv = view(out);
  out.fill(0, 0, LOG_HEADER.size);
  writeHeader(dv, MAGIC.log, LOG_HEADER.size);
  dv.setBigUint64(LOG_HEADER.epoch, u64(epoch, 'epoch'), true);
  dv.setBigUint64(LOG_HEADER.sequence, u64(sequence, 'sequence'), true);
  dv.setUint32(LOG_HEADER.payloadLen, payload.byteLength, true);
  dv.setUint32(LOG_HEADER.payloadCrc, crc32c(payload), true);
  dv.setUint32(LOG_HEADER.stream, stream, true);
  dv.setUint8(LOG_HEADER.durability, durability + 1);
  dv.setBigUint64(LOG_HEADER.prior, prior, true);
  dv.setBigUint64(LOG_HEADER.acknowledged, u64(meta.acknowledged ?? 0n, 'acknowledged'), true);
  seal(out, LOG_HEADER.size, LOG_HEADER.checksum, dv);
  out.set(payload, LOG_HEADER.size);
  out.fill(0, LOG_HEADER.size + payload.byteLength, recordSize(payload.byteLength));
  return out;
}

/** What a record's header alone says ({@link peekRecord}). */
export interface RecordPeek {
  /** The writer's stream id. */
  stream: number;
  /** Its sequence within the stream. */
  sequence: bigint;
  /** Bytes it takes in the ring (header and padded payload). */
  size: number;
  /** The last sequence its writer knew to be safe when it wrote it. */
  acknowledged: bigint;
}

/**
 * The numbering, size and acknowledged sequence of the record whose header starts `buf`, from a
 * validated copy of the header alone (magic, version, length, header CRC), or null when no whole header is there: a replay uses it to
 * tell "no record here" from "this record, damaged".
 */
export function peekRecord(buf: Uint8Array): RecordPeek | null {
  try {
    const { dv } = checkHeader(buf, 'log', MAGIC.log, LOG_HEADER.size, LOG_HEADER.checksum);
    return {
      stream: dv.getUint32(LOG_HEADER.stream, true),
      sequence: dv.getBigUint64(LOG_HEADER.sequence, true),
      size: recordSize(dv.getUint32(LOG_HEADER.payloadLen, true)),
      acknowledged: dv.getBigUint64(LOG_HEADER.acknowledged, true),
    };
  } catch {
    return null;
  }
}

/** decodeRecord's copy of the header it validates, read before it returns. */
const HEADER = scratch(LOG_HEADER.size);

/**
 * Validates the record at the start of `buf` (the ring from the record's offset to the ring's end). The
 * header and the payload are copied out of the ring first and only the copies are checked and returned:
 * the partner can write the ring again at any moment. Whether its epoch and sequence number are the ones
 * due is the receiving session's and stream's decision (mirror.ts, mirror-stream.ts).
 */
export function decodeRecord(buf: Uint8Array): LogRecord {
  const { dv } = checkHeader(buf, 'log', MAGIC.log, LOG_HEADER.size, LOG_HEADER.checksum, HEADER);
  const sequence = dv.getBigUint64(LOG_HEADER.sequence, true);
  if (sequence === 0n) throw new ProtocolError('ERR_CCM_FIELD', 'log', 'sequence 0');
  const stream = dv.getUint32(LOG_HEADER.stream, true);
  if (stream === 0) throw new ProtocolError('ERR_CCM_FIELD', 'log', 'stream id 0');
  const level = dv.getUint32(LOG_HEADER.durability, true);
  if (level < 1 || level > DURABILITY.length)
    throw new ProtocolError('ERR_CCM_FIELD', 'log', `unknown durability ${level}`);
  const prior = dv.getBigUint64(LOG_HEADER.prior, true);
  if (prior >= sequence)
    throw new ProtocolError('ERR_CCM_FIELD', 'log', `prior ${prior} not below sequence ${sequence}`);
  const acknowledged = dv.getBigUint64(LOG_HEADER.acknowledged, true);
  if (acknowledged >= sequence)
    throw new ProtocolError(
      'ERR_CCM_FIELD',
      'log',
      `acknowledged ${acknowledged} not below sequence ${sequence}`,
    );
  if (dv.getUint32(LOG_HEADER.reserved, true) !== 0)
    throw new ProtocolError('ERR_CCM_FIELD', 'log', 'reserved field not zero');
  const len = dv.getUint32(LOG_HEADER.payloadLen, true);
  if (recordSize(len) > buf.byteLength)
    throw new ProtocolError('ERR_CCM_LENGTH', 'log', `payload length ${len} overruns the ring`);
  const payload = copyOut(buf, LOG_HEADER.size, LOG_HEADER.size + len);
  if (crc32c(payload) !== dv.getUint32(LOG_HEADER.payloadCrc, true))
    throw new ProtocolError('ERR_CCM_CHECKSUM', 'log', 'payload checksum mismatch');
  return {
    epoch: dv.getBigUint64(LOG_HEADER.epoch, true),
    stream,
    sequence,
    payload,
    durability: DURABILITY[level - 1],
    prior,
    acknowledged,
  };
}
