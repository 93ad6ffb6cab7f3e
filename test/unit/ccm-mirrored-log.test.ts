// Replaying a mirrored log from copies of a slot's tail word and ring (mirrored-log.ts): order, wrap,
// the acknowledged marks, and every way the bytes can be damaged. Proven on rxe by test/integration/ccm-nvram.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { readMirroredLog } from '../../lib/ccm/mirrored-log';
import {
  encodeLogTail,
  encodeRecord,
  LOG_HEADER,
  LOG_TAIL,
  recordSize,
  type Durability,
} from '../../lib/ccm/wire';

const STREAM = 0x5eed;

/** A ring written the way a writer does: each record at the head, or at 0 when it does not fit before the end. */
class Ring {
  readonly bytes: Uint8Array;
  head = 0;
  readonly at = new Map<bigint, number>();
  next = 1n;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
  }
  write(payload: string, acknowledged: bigint, durability: Durability = 'placed'): bigint {
    const data = new TextEncoder().encode(payload);
    const size = recordSize(data.byteLength);
    if (this.head + size > this.bytes.byteLength) this.head = 0;
    const sequence = this.next++;
    encodeRecord(
      7n,
      STREAM,
      sequence,
      data,
      { durability, acknowledged },
      this.bytes.subarray(this.head, this.head + size),
    );
    this.at.set(sequence, this.head);
    this.head += size;
    return sequence;
  }
  tail(released: bigint, acknowledged: bigint): Uint8Array {
    return encodeLogTail({
      stream: STREAM,
      released,
      offset: BigInt(released === 0n ? 0 : (this.at.get(released + 1n) ?? this.head)),
      acknowledged,
    });
  }
}

const texts = (log: ReturnType<typeof readMirroredLog>) =>
  log.records.map((r) => `${r.sequence}:${r.payload.toString()}:${r.acknowledged ? 'a' : 'u'}`);

describe('readMirroredLog', () => {
  it('finds no log in a slot never written', () => {
    expect(readMirroredLog(new Uint8Array(LOG_TAIL.size), new Uint8Array(4096))).toEqual({
      stream: 0,
      released: 0n,
      records: [],
      error: null,
    });
  });

  it('replays every record in order, acknowledged up to the last sequence its writer knew was safe', () => {
    const ring = new Ring(4096);
    for (let i = 1; i <= 5; i++) ring.write(`r${i}`, BigInt(Math.max(0, i - 3)));
    // Record 5 says 2 was safe; the tail word says 3.
    const log = readMirroredLog(ring.tail(0n, 3n), ring.bytes);
    expect(log.error).toBeNull();
    expect(log.stream).toBe(STREAM);
    expect(texts(log)).toEqual(['1:r1:a', '2:r2:a', '3:r3:a', '4:r4:u', '5:r5:u']);
    expect(log.records.map((r) => r.durability)).toEqual(['placed', 'placed', 'placed', 'placed', 'placed']);
  });

  it('starts after the records released, and follows the ring round its end over the bytes of an older lap', () => {
    const ring = new Ring(1024);
    const big = 'x'.repeat(130); // 64 + 136 = 200 bytes a record: five fit, the sixth starts at 0
    for (let i = 1; i <= 9; i++) ring.write(`${i}${big}`, BigInt(i - 1));
    expect(ring.at.get(6n)).toBe(0);
    // Released through 5: 6 … 9 are live, 9 at offset 600, record 5 of the first lap still lies at 800.
    const log = readMirroredLog(ring.tail(5n, 8n), ring.bytes);
    expect(log.error).toBeNull();
    expect(log.released).toBe(5n);
    expect(log.records.map((r) => r.sequence)).toEqual([6n, 7n, 8n, 9n]);
    expect(log.records.map((r) => r.acknowledged)).toEqual([true, true, true, false]);
    // Seven records: 6 and 7 took the places of 1 and 2; released through 3, 4 and 5 lie at the end.
    const lap = new Ring(1024);
    for (let i = 1; i <= 7; i++) lap.write(`${i}${big}`, BigInt(i - 1));
    const wrapped = readMirroredLog(lap.tail(3n, 5n), lap.bytes);
    expect(wrapped.error).toBeNull();
    expect(wrapped.records.map((r) => r.sequence)).toEqual([4n, 5n, 6n, 7n]);
    expect(wrapped.records.map((r) => r.acknowledged)).toEqual([true, true, true, false]);
    expect(wrapped.records[0].payload.toString()).toBe(`4${big}`);
  });

  it('ends quietly at a record torn by its writer before it was safe, and reports one it knew was safe', () => {
    const ring = new Ring(4096);
    for (let i = 1; i <= 4; i++) ring.write(`r${i}`, BigInt(i - 1));
    const torn = ring.bytes.slice();
    torn[ring.at.get(4n)! + LOG_HEADER.size] ^= 0xff; // 4's payload: its writer knew only 3 was safe
    const end = readMirroredLog(ring.tail(0n, 3n), torn);
    expect(end.error).toBeNull();
    expect(end.records.map((r) => r.sequence)).toEqual([1n, 2n, 3n]);
    // 2 was acknowledged: the tail word does not say so, but record 3, after it, does.
    torn[ring.at.get(2n)! + LOG_HEADER.size] ^= 0xff;
    const damaged = readMirroredLog(ring.tail(0n, 0n), torn);
    expect(damaged.records.map((r) => r.sequence)).toEqual([1n]);
    expect(damaged.error).toMatchObject({
      name: 'MirroredLogError',
      code: 'ERR_CCM_LOG_DAMAGED',
      sequence: 2n,
    });
  });

  it('reports a gap where a record known to be safe is missing', () => {
    const ring = new Ring(4096);
    for (let i = 1; i <= 4; i++) ring.write(`r${i}`, BigInt(i - 1));
    const holed = ring.bytes.slice();
    holed.fill(0, ring.at.get(3n)!, ring.at.get(4n)!);
    const log = readMirroredLog(ring.tail(0n, 3n), holed);
    expect(log.records.map((r) => r.sequence)).toEqual([1n, 2n]);
    expect(log.error).toMatchObject({ code: 'ERR_CCM_LOG_GAP', sequence: 3n });
  });

  it('reports a damaged tail word, a tail outside the ring and a truncated ring, without throwing', () => {
    const ring = new Ring(4096);
    for (let i = 1; i <= 3; i++) ring.write(`r${i}`, BigInt(i - 1));
    const tail = ring.tail(1n, 2n);
    const bad = tail.slice();
    bad[LOG_TAIL.released] ^= 1;
    expect(readMirroredLog(bad, ring.bytes)).toMatchObject({
      records: [],
      error: { code: 'ERR_CCM_LOG_DAMAGED', message: expect.stringContaining('checksum') },
    });
    expect(readMirroredLog(tail.subarray(0, 20), ring.bytes).error).toMatchObject({
      code: 'ERR_CCM_LOG_DAMAGED',
    });
    // The ring cut short before the tail's offset: the offset is outside it.
    expect(readMirroredLog(tail, ring.bytes.subarray(0, 64)).error).toMatchObject({
      code: 'ERR_CCM_LOG_DAMAGED',
    });
    // Cut inside record 3, which its writer knew was safe: in its payload (damaged), in its header (missing).
    const cut = readMirroredLog(ring.tail(0n, 3n), ring.bytes.subarray(0, ring.at.get(3n)! + 70));
    expect(cut.records.map((r) => r.sequence)).toEqual([1n, 2n]);
    expect(cut.error).toMatchObject({ code: 'ERR_CCM_LOG_DAMAGED', sequence: 3n });
    const headless = readMirroredLog(ring.tail(0n, 3n), ring.bytes.subarray(0, ring.at.get(3n)! + 30));
    expect(headless.records.map((r) => r.sequence)).toEqual([1n, 2n]);
    expect(headless.error).toMatchObject({ code: 'ERR_CCM_LOG_GAP', sequence: 3n });
  });

  it('never throws and never loops on hostile bytes', () => {
    const ring = new Ring(2048);
    for (let i = 1; i <= 12; i++) ring.write(`r${i}`, BigInt(i - 1));
    for (let trial = 0; trial < 500; trial++) {
      const bytes = ring.bytes.slice();
      for (let k = 0; k < 1 + (trial % 8); k++)
        bytes[Math.floor(Math.random() * bytes.byteLength)] = Math.floor(Math.random() * 256);
      const tail =
        trial % 5 === 0 ? randomBytes(LOG_TAIL.size) : ring.tail(BigInt(trial % 6), BigInt(trial % 12));
      const log = readMirroredLog(tail, trial % 7 === 0 ? randomBytes(2048) : bytes);
      // Whatever it finds is a run of consecutive sequences of one stream.
      log.records.forEach((r, i) => expect(r.sequence).toBe(log.released + 1n + BigInt(i)));
    }
  });
});
