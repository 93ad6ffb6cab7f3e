// The log tail word a writer keeps in its slot of the partner's memory (SLOT.tail): the stream, the
// records it released and where the next one starts, and the last record it wrote before the word. A replay
// of the ring after the writer died starts there. The writer publishes it with a fenced WRITE before it
// reuses the ring bytes it frees, so the word never points past a record a replay still needs.
import { crc32c } from './crc32c';
import { seal, u64, view } from './codec';
import { ProtocolError } from './errors';
import { LOG_TAIL } from './layout';

/** The fields of a log tail word ({@link LOG_TAIL}). */
export interface LogTail {
  /** The writer's stream id (nonzero). */
  stream: number;
  /** Records of the stream up to this sequence are released: a replay skips them (0n: none). */
  released: bigint;
  /** The ring offset where record `released + 1` starts (a multiple of 8), or 0 when it wrapped. */
  offset: bigint;
  /** The last record written before the word: it and those before it are in the reader's memory once the word is. */
  acknowledged: bigint;
}

/** Encodes a tail word (40 bytes). Throws RangeError for a stream outside 1 to 2^32 - 1 or an offset not a multiple of 8. */
export function encodeLogTail(t: LogTail, out: Uint8Array = new Uint8Array(LOG_TAIL.size)): Uint8Array {
  if (!Number.isInteger(t.stream) || t.stream < 1 || t.stream > 0xffffffff)
    throw new RangeError('stream must be an integer from 1 to 2^32-1');
  if (t.offset % 8n !== 0n) throw new RangeError('offset must be a multiple of 8');
  out.fill(0, 0, LOG_TAIL.size);
  const dv = view(out);
  dv.setUint32(LOG_TAIL.stream, t.stream, true);
  dv.setBigUint64(LOG_TAIL.released, u64(t.released, 'released'), true);
  dv.setBigUint64(LOG_TAIL.offset, u64(t.offset, 'offset'), true);
  dv.setBigUint64(LOG_TAIL.acknowledged, u64(t.acknowledged, 'acknowledged'), true);
  seal(out, LOG_TAIL.size, LOG_TAIL.checksum, dv);
  return out;
}

/**
 * Validates a tail word, on a copy of its 40 bytes, for a ring of `ringBytes`. A word never written (all
 * zeros) is null. Throws ProtocolError: ERR_CCM_TRUNCATED, ERR_CCM_CHECKSUM (torn or damaged),
 * ERR_CCM_FIELD (stream 0, reserved bytes set, an offset outside the ring or not a multiple of 8).
 */
export function decodeLogTail(buf: Uint8Array, ringBytes: number): LogTail | null {
  if (!(buf instanceof Uint8Array) || buf.byteLength < LOG_TAIL.size)
    throw new ProtocolError('ERR_CCM_TRUNCATED', 'log tail', `need ${LOG_TAIL.size} bytes`);
  const bytes = buf.slice(0, LOG_TAIL.size);
  if (bytes.every((b) => b === 0)) return null;
  const dv = view(bytes);
  if (dv.getUint32(LOG_TAIL.checksum, true) !== crc32c(bytes, 0, LOG_TAIL.size, LOG_TAIL.checksum))
    throw new ProtocolError('ERR_CCM_CHECKSUM', 'log tail', 'checksum mismatch');
  const stream = dv.getUint32(LOG_TAIL.stream, true);
  if (stream === 0) throw new ProtocolError('ERR_CCM_FIELD', 'log tail', 'stream id 0');
  if (dv.getUint32(LOG_TAIL.reserved, true) !== 0 || dv.getUint32(LOG_TAIL.reserved2, true) !== 0)
    throw new ProtocolError('ERR_CCM_FIELD', 'log tail', 'reserved field not zero');
  const offset = dv.getBigUint64(LOG_TAIL.offset, true);
  if (offset % 8n !== 0n || offset >= BigInt(ringBytes))
    throw new ProtocolError(
      'ERR_CCM_FIELD',
      'log tail',
      `offset ${offset} outside a ring of ${ringBytes} bytes`,
    );
  return {
    stream,
    released: dv.getBigUint64(LOG_TAIL.released, true),
    offset,
    acknowledged: dv.getBigUint64(LOG_TAIL.acknowledged, true),
  };
}
