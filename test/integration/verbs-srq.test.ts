// Shared receive queues on rxe: two RC queue pairs receive from one pool of buffers, the limit event
// fires when the pool runs low, and misuse is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AsyncEvent, QueuePair, SharedReceiveQueue } from '../../lib/verbs';
import { closeSide, openSide, rcPair, type Side } from './verbs-pair';

let a: Side;
let b: Side;
let srq: SharedReceiveQueue;
let pairs: [QueuePair, QueuePair][];
const events: AsyncEvent[] = [];

beforeAll(() => {
  a = openSide(0);
  b = openSide(1);
  b.ctx.on('async-event', (e) => events.push(e));
  srq = b.pd.createSrq({ maxWr: 64 });
  pairs = [rcPair(a, b, { b: { srq } }), rcPair(a, b, { b: { srq } })];
});

afterAll(() => {
  for (const [qa, qb] of pairs) {
    qa.close();
    qb.close();
  }
  srq.close();
  closeSide(a);
  closeSide(b);
});

const until = async (cond: () => boolean, ms = 20_000) => {
  for (const end = Date.now() + ms; !cond() && Date.now() < end; )
    await new Promise((r) => setTimeout(r, 20));
  return cond();
};

describe('shared receive queues on rxe', () => {
  it('feeds two queue pairs from one pool: each message lands in a shared buffer, named by its QP', async () => {
    expect(srq.query().maxWr).toBeGreaterThanOrEqual(64);
    const r1 = srq.recv({ local: { mr: b.mr, offset: 0, length: 64 } });
    const r2 = srq.recv({ local: { mr: b.mr, offset: 64, length: 64 } });
    expect(srq.outstanding).toBe(2);
    a.mr.buffer.write('via first QP', 0);
    a.mr.buffer.write('via second QP', 100);
    await pairs[0][0].send({ local: { mr: a.mr, offset: 0, length: 12 } });
    await pairs[1][0].send({ local: { mr: a.mr, offset: 100, length: 13 } });
    const [w1, w2] = await Promise.all([r1, r2]);
    // The SRQ hands out buffers in the order they were posted.
    expect(w1).toMatchObject({ status: 'SUCCESS', opcode: 'RECV', byteLen: 12, qpNum: pairs[0][1].qpNum });
    expect(w2).toMatchObject({ status: 'SUCCESS', opcode: 'RECV', byteLen: 13, qpNum: pairs[1][1].qpNum });
    expect(b.mr.buffer.toString('utf8', 0, 12)).toBe('via first QP');
    expect(b.mr.buffer.toString('utf8', 64, 77)).toBe('via second QP');
    expect(srq.outstanding).toBe(0);
  });

  it('raises SRQ_LIMIT_REACHED once fewer receives than the armed limit remain', async () => {
    let limit = 0;
    srq.on('limit-reached', () => limit++);
    const recvs = [0, 1, 2, 3].map((i) =>
      srq.recv({ local: { mr: b.mr, offset: 1024 + i * 64, length: 64 } }),
    );
    srq.arm(3);
    expect(srq.query().srqLimit).toBe(3);
    await pairs[0][0].send({ local: { mr: a.mr, offset: 0, length: 8 } });
    expect(await until(() => limit > 0, 1000)).toBe(false); // 3 left: not below the limit yet
    await pairs[1][0].send({ local: { mr: a.mr, offset: 0, length: 8 } });
    expect(await until(() => limit > 0)).toBe(true);
    const ev = events.find((e) => e.type === 'SRQ_LIMIT_REACHED');
    expect(ev?.srq).toBe(srq);
    await Promise.all(recvs.slice(0, 2));
    expect(srq.outstanding).toBe(2);
    // The two still posted complete as flushed only when the SRQ goes away (see the last test).
    pendingFromLimitTest = recvs.slice(2);
  });

  it('refuses receives posted on a QP that uses the SRQ, and closing an SRQ in use', () => {
    expect(() => pairs[0][1].postRecv([{ wrId: 1n, sgl: [{ mr: b.mr, length: 8 }] }])).toThrow(
      expect.objectContaining({ code: 'ERR_UNSUPPORTED' }),
    );
    expect(() => srq.close()).toThrow(expect.objectContaining({ code: 'ERR_BUSY' }));
    expect(() => srq.postRecv([{ wrId: 1n, sgl: [{ mr: b.mr, offset: 65530, length: 64 }] }])).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }),
    );
    expect(() => a.pd.createQp({ type: 'RC', sendCq: a.cq, srq })).toThrow(
      expect.objectContaining({ code: 'ERR_WRONG_PD' }),
    );
  });

  it('flushes receives still posted when the SRQ closes, and frees their memory', async () => {
    for (const [, qb] of pairs) qb.close();
    expect(() => b.mr.close()).toThrow(expect.objectContaining({ code: 'ERR_BUSY' }));
    srq.close();
    for (const p of pendingFromLimitTest)
      await expect(p).rejects.toMatchObject({ code: 'ERR_WC_WR_FLUSH_ERR' });
    srq.close(); // idempotent
    expect(srq.closed).toBe(true);
  });
});

let pendingFromLimitTest: Promise<unknown>[] = [];
