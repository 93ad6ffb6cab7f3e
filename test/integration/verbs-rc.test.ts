// Verbs on real rxe devices: two RC queue pairs, one on each lab device (rxe0 ↔ rxe1), connected by
// hand; every operation is checked by the bytes or values that really changed on the other side.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Access, CompletionQueue, Context, MemoryRegion, ProtectionDomain, QueuePair } from '../../lib/verbs';
import { ipv4Gid, lab } from './lab';

const env = lab();
const ALL = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ | Access.REMOTE_ATOMIC;

interface Side {
  ctx: Context;
  pd: ProtectionDomain;
  cq: CompletionQueue;
  qp: QueuePair;
  mr: MemoryRegion;
  gid: string;
  gidIndex: number;
}

function side(i: number): Side {
  const ctx = new Context(env.devices[i]);
  const gid = ipv4Gid(env.addrs[i]);
  const entry = ctx.queryGidTable().find((g) => g.gid === gid && g.type === 'RoCEv2');
  if (!entry) throw new Error(`${env.devices[i]} has no RoCE v2 GID ${gid}`);
  const pd = ctx.allocPd();
  const cq = ctx.createCq({ cqe: 256 });
  const qp = pd.createQp({ type: 'RC', sendCq: cq, maxSendWr: 64, maxRecvWr: 64, maxInlineData: 64 });
  const mr = pd.allocMemory(1 << 16, ALL);
  return { ctx, pd, cq, qp, mr, gid, gidIndex: entry.index };
}

function connect(a: Side, b: Side) {
  a.qp.connectTo({ qpNum: b.qp.qpNum, gid: b.gid }, { sgidIndex: a.gidIndex, access: ALL & ~Access.LOCAL_WRITE });
  b.qp.connectTo({ qpNum: a.qp.qpNum, gid: a.gid }, { sgidIndex: b.gidIndex, access: ALL & ~Access.LOCAL_WRITE });
}

let a: Side;
let b: Side;

beforeAll(() => {
  a = side(0);
  b = side(1);
  expect(a.qp.state).toBe('RESET');
  connect(a, b);
  expect(a.qp.state).toBe('RTS');
  expect(b.qp.state).toBe('RTS');
});

afterAll(() => {
  for (const s of [a, b]) {
    s.qp.close();
    s.mr.close();
    s.cq.close();
    s.pd.close();
    s.ctx.close();
  }
});

describe('RC queue pairs on rxe', () => {
  it('RDMA WRITE puts the bytes into the partner region', async () => {
    a.mr.buffer.write('written by rxe0 over RoCE', 0);
    const wc = await a.qp.write({ local: { mr: a.mr, offset: 0, length: 25 }, remoteAddr: b.mr.addr + 100n, rkey: b.mr.rkey });
    expect(wc).toMatchObject({ status: 'SUCCESS', opcode: 'RDMA_WRITE', qpNum: a.qp.qpNum });
    expect(b.mr.buffer.toString('utf8', 100, 125)).toBe('written by rxe0 over RoCE');
  });

  it('RDMA READ fetches the partner bytes', async () => {
    b.mr.buffer.fill(0xab, 4096, 8192);
    const wc = await a.qp.read({ local: { mr: a.mr, offset: 8192, length: 4096 }, remoteAddr: b.mr.addr + 4096n, rkey: b.mr.rkey });
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
    await a.qp.write({ local: { mr: a.mr, offset: 300, length: 13 }, remoteAddr: b.mr.addr + 30000n, rkey: b.mr.rkey, imm: 42 });
    const wc = await doorbell;
    expect(wc).toMatchObject({ opcode: 'RECV_RDMA_WITH_IMM', immData: 42, byteLen: 13 });
    expect(b.mr.buffer.toString('utf8', 30000, 30013)).toBe('doorbell data');
  });

  it('atomics change the remote value and return the old one', async () => {
    b.mr.buffer.writeBigUInt64LE(1000n, 40000);
    await a.qp.fetchAdd({ local: { mr: a.mr, offset: 40000, length: 8 }, remoteAddr: b.mr.addr + 40000n, rkey: b.mr.rkey, add: 5n });
    expect(a.mr.buffer.readBigUInt64LE(40000)).toBe(1000n);
    expect(b.mr.buffer.readBigUInt64LE(40000)).toBe(1005n);
    await a.qp.compareSwap({ local: { mr: a.mr, offset: 40008, length: 8 }, remoteAddr: b.mr.addr + 40000n, rkey: b.mr.rkey, compare: 1005n, swap: 7n });
    expect(a.mr.buffer.readBigUInt64LE(40008)).toBe(1005n);
    expect(b.mr.buffer.readBigUInt64LE(40000)).toBe(7n);
    await a.qp.compareSwap({ local: { mr: a.mr, offset: 40008, length: 8 }, remoteAddr: b.mr.addr + 40000n, rkey: b.mr.rkey, compare: 1n, swap: 9n });
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
    const done = await new Promise<bigint>((resolve) => {
      const poll = () => {
        const wcs = a.cq.poll(16);
        if (wcs.length) resolve(wcs[0].wrId);
        else setImmediate(poll);
      };
      poll();
    });
    expect(done).toBe(15n);
    for (let i = 0; i < 16; i++) expect(b.mr.buffer.readBigUInt64LE(50000 + i * 8)).toBe(BigInt(i * 1111));
    expect(a.mr.inflight).toBe(0);
  });

  it('posts prepared work requests again and again, and counts completions without objects', async () => {
    const prepared = a.qp.prepareSend([{ wrId: 5n, opcode: 'RDMA_WRITE', sgl: [{ mr: a.mr, offset: 60000, length: 8 }], remoteAddr: b.mr.addr + 60000n, rkey: b.mr.rkey, signaled: true }]);
    expect(() => a.mr.close()).toThrow(expect.objectContaining({ code: 'ERR_BUSY' })); // pinned while prepared
    for (let i = 1; i <= 10; i++) {
      a.mr.buffer.writeBigUInt64LE(BigInt(i * 7), 60000);
      prepared.post();
      let n = 0;
      while (n === 0) {
        n = a.cq.pollCount(4);
        if (n === 0) await new Promise((r) => setImmediate(r));
      }
      expect(n).toBe(1);
      expect(b.mr.buffer.readBigUInt64LE(60000)).toBe(BigInt(i * 7));
    }
    prepared.release();
    prepared.release();
    expect(() => prepared.post()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    expect(a.mr.inflight).toBe(0);
  });

  it('a READ outside the remote region fails with REM_ACCESS_ERR, the QP errors, and recovers through RESET', async () => {
    const bad = a.qp.read({ local: { mr: a.mr, offset: 0, length: 64 }, remoteAddr: b.mr.addr + BigInt(b.mr.length), rkey: b.mr.rkey });
    await expect(bad).rejects.toMatchObject({ code: 'ERR_WC_REM_ACCESS_ERR' });
    expect(a.qp.state).toBe('ERR');
    expect(() => a.qp.modify({ qpState: 'RTS' })).toThrow(expect.objectContaining({ code: 'ERR_QP_STATE' }));
    a.qp.modify({ qpState: 'RESET' });
    b.qp.modify({ qpState: 'RESET' });
    connect(a, b);
    a.mr.buffer.write('again', 0);
    await a.qp.write({ local: { mr: a.mr, offset: 0, length: 5 }, remoteAddr: b.mr.addr, rkey: b.mr.rkey });
    expect(b.mr.buffer.toString('utf8', 0, 5)).toBe('again');
  });

  it('registers caller memory zero-copy and keeps it while registered', async () => {
    const mine = new Uint8Array(4096);
    const mr = b.pd.registerMemory(mine, ALL);
    a.mr.buffer.write('into a typed array', 0);
    await a.qp.write({ local: { mr: a.mr, offset: 0, length: 18 }, remoteAddr: mr.addr + 10n, rkey: mr.rkey });
    expect(Buffer.from(mine.buffer, 10, 18).toString()).toBe('into a typed array');
    expect(() => b.pd.close()).toThrow(expect.objectContaining({ code: 'ERR_BUSY' }));
    mr.close();
    mr.close();
    expect(mr.closed).toBe(true);
  });
});
