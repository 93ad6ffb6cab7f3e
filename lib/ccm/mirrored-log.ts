// Reading a partner's mirrored log out of this node's memory, after the partner died or after this
// node's own restart: from a copy of the slot's tail word and ring, never from memory the partner may
// still write. The tail word names the writer's stream and where its first record still needed lies;
// from there the records follow one another in the ring (a record that did not fit before the ring's
// end starts at offset 0), each the next sequence of that stream. The chain ends where the next record
// is not there, or is torn and was never marked acknowledged (the writer died writing it). A record
// marked acknowledged that is missing or damaged is an error, never a silent end: the replay reports
// it after every record before it.
import { decodeLogTail } from './wire/log-tail';
import { decodeRecord, LOG_HEADER, peekRecord, recordSize } from './wire/log-record';
import type { Durability } from './wire/layout';

/** One record of a partner's mirrored log, as a replay finds it. */
export interface MirroredRecord {
  /** Its sequence in the writer's stream. */
  sequence: bigint;
  /** A copy of its payload, validated (CRC). */
  payload: Buffer;
  /** How far its append went. */
  durability: Durability;
  /** The writer knew it was safe (its append resolved); false: the writer may not have been told. */
  acknowledged: boolean;
}

/** Why a replay stopped before the end of the log: a record the writer knew was safe is missing (ERR_CCM_LOG_GAP) or damaged (ERR_CCM_LOG_DAMAGED). */
export class MirroredLogError extends Error {
  constructor(
    /** ERR_CCM_LOG_GAP or ERR_CCM_LOG_DAMAGED. */
    readonly code: 'ERR_CCM_LOG_GAP' | 'ERR_CCM_LOG_DAMAGED',
    message: string,
    /** The sequence of the first record that could not be read. */
    readonly sequence: bigint,
  ) {
    super(message);
    this.name = 'MirroredLogError';
  }
}

/** What a replay found: the records in order, and the first gap or damage after them (or null). */
export interface MirroredLog {
  /** The writer's stream (0 when the log was never written). */
  stream: number;
  /** Records up to this sequence were released by the writer: the log starts after it. */
  released: bigint;
  /** The records, in order, each once. */
  records: MirroredRecord[];
  /** The first gap or damage, after the records before it; null when the log ends cleanly. */
  error: MirroredLogError | null;
}

/** A replay to iterate (`for await`), with the whole of it at once in `log`. */
export interface MirroredLogReplay extends AsyncIterableIterator<MirroredRecord> {
  /** Every record of the replay and its error, as {@link readMirroredLog} found them. */
  readonly log: MirroredLog;
}

/** Options of `ClusterNode.mirroredLog()`. */
export interface MirroredLogOptions {
  /** The log found in the node's NVRAM region when it started, instead of the one in its memory now. */
  atStart?: boolean;
}

/**
 * Replays a mirrored log from copies of a slot's tail word and its ring (the caller copies them out of
 * live memory first). Never throws for their contents: a damaged tail word, record or chain is the
 * result's `error`.
 */
export function readMirroredLog(tailBytes: Uint8Array, ring: Uint8Array): MirroredLog {
  let tail;
  try {
    tail = decodeLogTail(tailBytes, ring.byteLength);
  } catch (e) {
    return {
      stream: 0,
      released: 0n,
      records: [],
      error: new MirroredLogError(
        'ERR_CCM_LOG_DAMAGED',
        `the log tail word is damaged: ${(e as Error).message}`,
        1n,
      ),
    };
  }
  if (!tail) return { stream: 0, released: 0n, records: [], error: null };
  const records: MirroredRecord[] = [];
  const out: MirroredLog = { stream: tail.stream, released: tail.released, records, error: null };
  let known = tail.acknowledged;
  let next = tail.released + 1n;
  let pos = Number(tail.offset);
  const walk = new RingWalk(ring, tail.stream);
  for (;;) {
    const found = walk.find(pos, next);
    if (found === null) break;
    pos = found;
    let r;
    try {
      r = decodeRecord(ring.subarray(pos));
    } catch (e) {
      // Its header is whole: the records after it may still say that it was known to be safe.
      known = walk.acknowledgedAfter(pos, next, known);
      // A record its writer was never told was safe may be torn by the writer's own death: the log ends there.
      if (next <= known)
        out.error = new MirroredLogError(
          'ERR_CCM_LOG_DAMAGED',
          `record ${next} is damaged: ${(e as Error).message}`,
          next,
        );
      break;
    }
    if (r.acknowledged > known) known = r.acknowledged;
    records.push({
      sequence: r.sequence,
      payload: Buffer.from(r.payload.buffer, r.payload.byteOffset, r.payload.byteLength),
      durability: r.durability,
      acknowledged: false,
    });
    pos = walk.after(pos, r.payload.byteLength);
    next++;
  }
  for (const r of records) r.acknowledged = r.sequence <= known;
  if (!out.error && known >= next)
    out.error = new MirroredLogError(
      'ERR_CCM_LOG_GAP',
      `record ${next}, which its writer knew was safe, is not in the ring`,
      next,
    );
  return out;
}

/** Where the records of one stream follow one another in a ring: at the next place, or at 0 after a wrap. */
class RingWalk {
  /** Each record takes at least 64 bytes, so a walk ends within ring / 64 steps even on hostile bytes. */
  private steps: number;
  constructor(
    private readonly ring: Uint8Array,
    private readonly stream: number,
  ) {
    this.steps = Math.floor(ring.byteLength / LOG_HEADER.size) + 1;
  }

  private header(offset: number) {
    return offset + LOG_HEADER.size <= this.ring.byteLength ? peekRecord(this.ring.subarray(offset)) : null;
  }

  /** The offset of record `sequence` when it is at `pos` or, wrapped, at 0; null when it is at neither. */
  find(pos: number, sequence: bigint): number | null {
    if (this.steps-- <= 0) return null;
    const is = (offset: number) => {
      const h = this.header(offset);
      return h !== null && h.stream === this.stream && h.sequence === sequence;
    };
    if (is(pos)) return pos;
    return pos !== 0 && is(0) ? 0 : null;
  }

  /** Where the record after the one at `pos` with `payloadLen` bytes would start. */
  after(pos: number, payloadLen: number): number {
    const end = pos + recordSize(payloadLen);
    return end >= this.ring.byteLength ? 0 : end;
  }

  /** The highest acknowledged sequence named by the whole headers of the records after record `sequence` at `pos`. */
  acknowledgedAfter(pos: number, sequence: bigint, known: bigint): bigint {
    let h = this.header(pos);
    for (let seq = sequence; h !== null; ) {
      const found = this.find(this.after(pos, h.size - LOG_HEADER.size), ++seq);
      if (found === null) break;
      pos = found;
      h = this.header(pos);
      if (h && h.acknowledged > known) known = h.acknowledged;
    }
    return known;
  }
}
