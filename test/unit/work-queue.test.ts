import { describe, expect, it } from 'vitest';
import type { WorkCompletion } from '../../lib/verbs';
import type { CompletionQueue } from '../../lib/verbs/cq';
import { libraryWrId, SEND_TAG, WorkQueue } from '../../lib/verbs/work-queue';

// The bookkeeping of one queue of a QP (pure logic; rxe runs it in the verbs tests): what a request
// holds, and when it lets go.
function fixture() {
  const holds: number[] = [];
  const cq = {
    _holdQueue: (_: unknown, on: boolean) => holds.push(on ? 1 : -1),
  } as unknown as CompletionQueue;
  const owner = {};
  return {
    q: new WorkQueue(cq, owner, 7, SEND_TAG, true),
    holds,
    region: { inflight: 0 },
    window: { inflight: 0 },
  };
}
const wc = (wrId: bigint, status = 'SUCCESS'): WorkCompletion =>
  ({
    wrId,
    status,
    statusCode: 0,
    opcode: 'RDMA_WRITE',
    byteLen: 0,
    srcQp: 0,
    qpNum: 7,
    vendorErr: 0,
  }) as WorkCompletion;

describe('a QP work queue', () => {
  it('a completion retires its request and the unsignaled ones before it, once, and only its own promise settles', () => {
    const { q, holds, region, window } = fixture();
    const settled: bigint[] = [];
    q.track(1n, [region], undefined);
    q.track(2n, [region, window], (c) => settled.push(c.wrId));
    q.track(3n, [region], (c) => settled.push(c.wrId));
    // The CQ is held once while the queue has work, not once per request.
    expect([region.inflight, window.inflight, holds]).toEqual([3, 1, [1]]);
    expect(q.retire(wc(2n))).toBe(true);
    expect([region.inflight, window.inflight, settled]).toEqual([1, 0, [2n]]);
    expect(q.retire(wc(2n))).toBe(false); // not twice
    expect(q.has(3n)).toBe(true);
    expect(q.retire(wc(3n))).toBe(true);
    expect([region.inflight, settled, holds.reduce((a, b) => a + b, 0)]).toEqual([0, [2n, 3n], 0]);
  });

  it('a raw request (no promise) is retired and reported as not taken; a flush settles what is left as WR_FLUSH_ERR', () => {
    const { q, region } = fixture();
    const flushed: WorkCompletion[] = [];
    q.track(10n, [region], undefined);
    expect(q.retire(wc(10n))).toBe(false);
    expect(region.inflight).toBe(0);
    q.track(11n, [region], (c) => flushed.push(c));
    q.track(12n, [region], (c) => flushed.push(c));
    q.flush(7);
    expect(flushed.map((c) => [c.wrId, c.status, c.qpNum])).toEqual([
      [11n, 'WR_FLUSH_ERR', 7],
      [12n, 'WR_FLUSH_ERR', 7],
    ]);
    expect(region.inflight).toBe(0);
    expect(q.has(11n)).toBe(false);
  });

  it("the library's requests are found by number, also past the ring's first size and across the 32-bit wrap", () => {
    const { q, holds, region } = fixture();
    const settled: number[] = [];
    // Start near the wrap of the 32-bit numbers.
    (q as unknown as { head: number; tail: number }).head = 0xfffffff0;
    (q as unknown as { head: number; tail: number }).tail = 0xfffffff0;
    const seqs: number[] = [];
    for (let i = 0; i < 40; i++)
      seqs.push(q.track(undefined, region, (c) => settled.push(Number(c.wrId & 0xffffffffn))));
    expect([q.size, region.inflight, seqs[16]]).toEqual([40, 40, 0]);
    expect(q.retireSeq(0xdeadbeef)).toBe(null); // not outstanding
    // Request 20 (number 4 after the wrap) retires the 21 before it with it.
    const settle = q.retireSeq(seqs[20]);
    settle?.(wc(libraryWrId(SEND_TAG, seqs[20])));
    expect([q.size, region.inflight, settled]).toEqual([19, 19, [4]]);
    expect(q.retireSeq(seqs[20])).toBe(null); // not twice
    q.flush(7);
    expect([q.size, region.inflight, settled.length, holds]).toEqual([0, 0, 20, [1, -1]]);
  });
});
