// Verbs on real rxe devices: two RC queue pairs, one on each lab device (rxe0 ↔ rxe1), connected by
// hand; every operation is checked by the bytes or values that really changed on the other side.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QueuePair } from '../../lib/verbs';
import { ALL, closeSide, connectPair, openSide, rcPair, type Side } from './verbs-pair';

let a: Side & { qp: QueuePair };
let b: Side & { qp: QueuePair };

beforeAll(() => {
  const sa = openSide(0);
  const sb = openSide(1);
  const [qa, qb] = rcPair(sa, sb, { a: { maxInlineData: 64 }, b: { maxInlineData: 64 } });
  a = { ...sa, qp: qa };
  b = { ...sb, qp: qb };
  expect(a.qp.state).toBe('RTS');
  expect(b.qp.state).toBe('RTS');
});

afterAll(() => {
  for (const s of [a, b]) {
    s.qp.close();
    closeSide(s);
  }
});

describe('RC queue pairs on rxe', () => {
  it('RDMA WRITE puts the bytes into the partner region', async () => {
    a.mr.buffer.write('written by rxe0 over RoCE', 0);
    const wc = await a.qp.write({
      local: { mr: a.mr, offset: 0, length: 25 },
      remoteAddr: b.mr.addr + 100n,
      rkey: b.mr.rkey,
    });
    expect(wc).toMatchObject({ status: 'SUCCESS', opcode: 'RDMA_WRITE', qpNum: a.qp.qpNum });
    expect(b.mr.buffer.toString('utf8', 100, 125)).toBe('written by rxe0 over RoCE');
  });

  it('RDMA READ fetches the partner bytes', async () => {
    b.mr.buffer.fill(0xab, 4096, 8192);
    const wc = await a.qp.read({
      local: { mr: a.mr, offset: 8192, length: 4096 },
      remoteAddr: b.mr.addr + 4096n,
      rkey: b.mr.rkey,
    });
    expect(wc.opcode).toBe('RDMA_READ');
    expect(wc.byteLen).toBe(4096);
    expect(a.mr.buffer.subarray(8192, 12288).every((x) => x === 0xab)).toBe(true);
  });

  it('SEND lands in a posted receive, with immediate data', async () => {
    const got = b.qp.recv({ local: { mr: b.mr, offset: 20000, length: 100 } });
    a.mr.buffer.write('hello receive', 200);
    await a.qp.send({ local: { mr: a.mr, offset: 200, length: 13 }, imm: 0xdeadbeef });
    const wc = await got;
    expect(wc).toMatchObject({ opcode: 'RECV', byteLen: 13, immData: 0xdeadbeef, srcQp: 0 });
    expect(b.mr.buffer.toString('utf8', 20000, 20013)).toBe('hello receive');
  });

  it('RDMA WRITE_WITH_IMM writes the bytes and rings the partner doorbell', async () => {
    const doorbell = b.qp.recv({});
    a.mr.buffer.write('doorbell data', 300);
    await a.qp.write({
      local: { mr: a.mr, offset: 300, length: 13 },
      remoteAddr: b.mr.addr + 30000n,
      rkey: b.mr.rkey,
      imm: 42,
    });
    const wc = await doorbell;
    expect(wc).toMatchObject({ opcode: 'RECV_RDMA_WITH_IMM', immData: 42, byteLen: 13 });
    expect(b.mr.buffer.toString('utf8', 30000, 30013)).toBe('doorbell data');
  });

  it('posts a batch of receives in one call, each settling with its own message; a zero-length WRITE_WITH_IMM rings one', async () => {
    const got = b.qp.recvBatch(
      [0, 1, 2].map((i) => ({ local: { mr: b.mr, offset: 40000 + i * 100, length: 100 } })),
    );
    expect(got).toHaveLength(3);
    for (const [i, text] of ['one', 'three', 'fifteen'].entries()) {
      a.mr.buffer.write(text, 400 + i * 20);
      await a.qp.send({ local: { mr: a.mr, offset: 400 + i * 20, length: text.length }, imm: i });
    }
    const wcs = await Promise.all(got);
    expect(wcs.map((w) => [w.immData, w.byteLen])).toEqual([
      [0, 3],
      [1, 5],
      [2, 7],
    ]);
    expect(b.mr.buffer.toString('utf8', 40100, 40105)).toBe('three');
    // A bare doorbell: no bytes move, the immediate arrives.
    const [bell] = b.qp.recvBatch([{}]);
    await a.qp.write({
      local: { mr: a.mr, offset: 0, length: 0 },
      remoteAddr: b.mr.addr,
      rkey: b.mr.rkey,
      imm: 7,
    });
    expect(await bell).toMatchObject({ opcode: 'RECV_RDMA_WITH_IMM', immData: 7, byteLen: 0 });
    expect(b.qp.recvBatch([])).toEqual([]);
    expect(() => b.qp.recvBatch('receives' as never)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
  });

  it('atomics change the remote value and return the old one', async () => {
    b.mr.buffer.writeBigUInt64LE(1000n, 40000);
    await a.qp.fetchAdd({
      local: { mr: a.mr, offset: 40000, length: 8 },
      remoteAddr: b.mr.addr + 40000n,
      rkey: b.mr.rkey,
      add: 5n,
    });
    expect(a.mr.buffer.readBigUInt64LE(40000)).toBe(1000n);
    expect(b.mr.buffer.readBigUInt64LE(40000)).toBe(1005n);
    await a.qp.compareSwap({
      local: { mr: a.mr, offset: 40008, length: 8 },
      remoteAddr: b.mr.addr + 40000n,
      rkey: b.mr.rkey,
      compare: 1005n,
      swap: 7n,
    });
    expect(a.mr.buffer.readBigUInt64LE(40008)).toBe(1005n);
    expect(b.mr.buffer.readBigUInt64LE(40000)).toBe(7n);
    await a.qp.compareSwap({
      local: { mr: a.mr, offset: 40008, length: 8 },
      remoteAddr: b.mr.addr + 40000n,
      rkey: b.mr.rkey,
      compare: 1n,
      swap: 9n,
    });
    expect(b.mr.buffer.readBigUInt64LE(40000)).toBe(7n); // compare failed: unchanged
  });

  it('posts many work requests in one call, signaled and unsignaled, and polls them explicitly', async () => {
    const wrs = Array.from({ length: 16 }, (_, i) => ({
      wrId: BigInt(i),
      opcode: 'RDMA_WRITE' as const,
      sgl: [{ mr: a.mr, offset: i * 8, length: 8 }],
      remoteAddr: b.mr.addr + 50000n + BigInt(i * 8),
      rkey: b.mr.rkey,
      signaled: i === 15,
      inline: i % 2 === 0,
    }));
    for (let i = 0; i < 16; i++) a.mr.buffer.writeBigUInt64LE(BigInt(i * 1111), i * 8);
    a.qp.postSend(wrs);
    // Polled in a spin, never yielding: a kernel whose rxe completes later (6.12's work queues) would
    // otherwise see the event loop drain the raw completion first and emit it as 'completion'.
    expect(a.cq.poll(16, 1_000_000).map((c) => c.wrId)).toEqual([15n]);
    for (let i = 0; i < 16; i++) expect(b.mr.buffer.readBigUInt64LE(50000 + i * 8)).toBe(BigInt(i * 1111));
    expect(a.mr.inflight).toBe(0);
  });

  it('posts prepared work requests again and again, and counts completions without objects', () => {
    const prepared = a.qp.prepareSend([
      {
        wrId: 5n,
        opcode: 'RDMA_WRITE',
        sgl: [{ mr: a.mr, offset: 60000, length: 8 }],
        remoteAddr: b.mr.addr + 60000n,
        rkey: b.mr.rkey,
        signaled: true,
      },
    ]);
    expect(() => a.mr.close()).toThrow(expect.objectContaining({ code: 'ERR_BUSY' })); // pinned while prepared
    for (let i = 1; i <= 10; i++) {
      a.mr.buffer.writeBigUInt64LE(BigInt(i * 7), 60000);
      prepared.post();
      expect(a.cq.pollCount(4, 1_000_000)).toBe(1);
      expect(b.mr.buffer.readBigUInt64LE(60000)).toBe(BigInt(i * 7));
    }
    prepared.release();
    prepared.release();
    expect(() => prepared.post()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    expect(a.mr.inflight).toBe(0);
  });

  it('spins in native code for the first completion when asked, up to its bound', () => {
    const prepared = a.qp.prepareSend([
      {
        wrId: 6n,
        opcode: 'RDMA_READ',
        sgl: [{ mr: a.mr, offset: 61000, length: 8 }],
        remoteAddr: b.mr.addr + 61000n,
        rkey: b.mr.rkey,
        signaled: true,
      },
    ]);
    for (let i = 1; i <= 5; i++) {
      b.mr.buffer.writeBigUInt64LE(BigInt(i * 13), 61000);
      prepared.post();
      expect(a.cq.pollCount(4, 1_000_000)).toBe(1); // no loop here: the call itself waited for the READ
      expect(a.mr.buffer.readBigUInt64LE(61000)).toBe(BigInt(i * 13));
    }
    b.mr.buffer.writeBigUInt64LE(77n, 61000);
    prepared.post();
    expect(a.cq.poll(4, 1_000_000)).toEqual([
      expect.objectContaining({ wrId: 6n, status: 'SUCCESS', opcode: 'RDMA_READ', byteLen: 8 }),
    ]);
    expect(a.mr.buffer.readBigUInt64LE(61000)).toBe(77n);
    const t0 = performance.now();
    expect(a.cq.pollCount(4, 20_000)).toBe(0); // nothing outstanding: the spin ends at its bound
    expect(performance.now() - t0).toBeGreaterThanOrEqual(19.9);
    expect(a.cq.poll(4, 0)).toEqual([]);
    prepared.release();
  });

  it('posts a prepared request and polls for its completion in one call; a bad argument posts nothing', () => {
    const prepared = a.qp.prepareSend([
      {
        wrId: 7n,
        opcode: 'RDMA_READ',
        sgl: [{ mr: a.mr, offset: 62000, length: 8 }],
        remoteAddr: b.mr.addr + 62000n,
        rkey: b.mr.rkey,
        signaled: true,
      },
    ]);
    for (let i = 1; i <= 5; i++) {
      b.mr.buffer.writeBigUInt64LE(BigInt(i * 17), 62000);
      expect(prepared.postAndPoll(a.cq, 1_000_000)).toBe(1);
      expect(a.mr.buffer.readBigUInt64LE(62000)).toBe(BigInt(i * 17));
    }
    b.mr.buffer.writeBigUInt64LE(99n, 62000);
    expect(() => prepared.postAndPoll({ native: {} } as unknown as typeof a.cq, 0)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    );
    expect(() => prepared.postAndPoll(a.cq, 2_000_000)).toThrow(
      expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }),
    );
    expect(() => prepared.postAndPoll(a.cq, 0.5)).toThrow(expect.objectContaining({ name: 'RangeError' }));
    // Neither was posted: nothing completes, and the local bytes are the last READ's.
    expect(a.cq.pollCount(4, 100_000)).toBe(0);
    expect(a.mr.buffer.readBigUInt64LE(62000)).toBe(85n);
    prepared.release();
    expect(() => prepared.postAndPoll(a.cq, 0)).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    expect(a.mr.inflight).toBe(0);
  });

  it('a chain posts in one call with one completion: its WRITEs land before the READ at its end; a failure in it rejects the chain', async () => {
    const completions: unknown[] = [];
    const onRaw = (wc: unknown) => completions.push(wc);
    a.cq.on('completion', onRaw);
    for (let i = 0; i < 8; i++) a.mr.buffer.writeBigUInt64LE(BigInt(0x5000 + i), 60000 + i * 8);
    const writes = Array.from({ length: 8 }, (_, i) => ({
      opcode: 'RDMA_WRITE' as const,
      sgl: [{ mr: a.mr, offset: 60000 + i * 8, length: 8 }],
      remoteAddr: b.mr.addr + 61000n + BigInt(i * 8),
      rkey: b.mr.rkey,
    }));
    const wc = await a.qp.chain([
      ...writes,
      {
        opcode: 'RDMA_READ',
        sgl: [{ mr: a.mr, offset: 62000, length: 64 }],
        remoteAddr: b.mr.addr + 61000n,
        rkey: b.mr.rkey,
      },
    ]);
    expect(wc).toMatchObject({ status: 'SUCCESS', opcode: 'RDMA_READ', byteLen: 64 });
    // The READ behind them saw every WRITE of the chain in the partner's memory.
    for (let i = 0; i < 8; i++) expect(a.mr.buffer.readBigUInt64LE(62000 + i * 8)).toBe(BigInt(0x5000 + i));
    expect(a.mr.inflight).toBe(0);
    // A failing request in the middle, unsignaled, still rejects the chain with its own completion status.
    const bad = { ...writes[0], remoteAddr: b.mr.addr + BigInt(b.mr.length) };
    await expect(a.qp.chain([writes[1], bad, writes[2]])).rejects.toMatchObject({
      code: 'ERR_WC_REM_ACCESS_ERR',
    });
    await expect(a.qp.chain([])).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    a.cq.off('completion', onRaw);
    // Every completion went to the chain's promise: none was left over as a raw one.
    expect(completions).toEqual([]);
    expect(a.mr.inflight).toBe(0);
    expect(a.qp.state).toBe('ERR');
    a.qp.modify({ qpState: 'RESET' });
    b.qp.modify({ qpState: 'RESET' });
    connectPair(a, a.qp, b, b.qp);
  });

  it('a READ outside the remote region fails with REM_ACCESS_ERR, the QP errors, and recovers through RESET', async () => {
    const bad = a.qp.read({
      local: { mr: a.mr, offset: 0, length: 64 },
      remoteAddr: b.mr.addr + BigInt(b.mr.length),
      rkey: b.mr.rkey,
    });
    await expect(bad).rejects.toMatchObject({ code: 'ERR_WC_REM_ACCESS_ERR' });
    expect(a.qp.state).toBe('ERR');
    expect(() => a.qp.modify({ qpState: 'RTS' })).toThrow(expect.objectContaining({ code: 'ERR_QP_STATE' }));
    a.qp.modify({ qpState: 'RESET' });
    b.qp.modify({ qpState: 'RESET' });
    connectPair(a, a.qp, b, b.qp);
    a.mr.buffer.write('again', 0);
    await a.qp.write({ local: { mr: a.mr, offset: 0, length: 5 }, remoteAddr: b.mr.addr, rkey: b.mr.rkey });
    expect(b.mr.buffer.toString('utf8', 0, 5)).toBe('again');
  });

  it('registers caller memory zero-copy and keeps it while registered', async () => {
    const mine = new Uint8Array(4096);
    const mr = b.pd.registerMemory(mine, ALL);
    a.mr.buffer.write('into a typed array', 0);
    await a.qp.write({
      local: { mr: a.mr, offset: 0, length: 18 },
      remoteAddr: mr.addr + 10n,
      rkey: mr.rkey,
    });
    expect(Buffer.from(mine.buffer, 10, 18).toString()).toBe('into a typed array');
    expect(() => b.pd.close()).toThrow(expect.objectContaining({ code: 'ERR_BUSY' }));
    mr.close();
    mr.close();
    expect(mr.closed).toBe(true);
  });
});
