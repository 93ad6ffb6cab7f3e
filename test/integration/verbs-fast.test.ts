// The verbs fast path on real rxe devices: requests posted from descriptors (many per call), completions
// read from the CQ's ring; every check is of bytes that arrived, ids that came back, or a refusal with
// its code that posted nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Desc, descriptors, Opcode, QueuePair, SendFlags, Wc, type CompletionQueue } from '../../lib/verbs';
import { closeSide, connectPair, type Side } from './verbs-pair';
import { openSide as openLabSide } from '../support/lab-side.mjs';
import * as verbs from '../../lib/verbs';
import { native } from '../../lib/native';
import { lab } from './lab';

// More completions than a CQ's ring holds (256), all outstanding at once.
const MANY = 600;

let a: Side & { qp: QueuePair };
let b: Side & { qp: QueuePair };

beforeAll(() => {
  const env = lab();
  const side = (i: number) =>
    openLabSide(verbs, env.devices[i], env.addrs[i], { cqe: 2048, recvCq: true, bytes: 1 << 20 }) as Side;
  const sa = side(0);
  const sb = side(1);
  const init = { type: 'RC' as const, maxSendWr: 1024, maxRecvWr: 1024 };
  a = { ...sa, qp: sa.pd.createQp({ ...init, sendCq: sa.cq, recvCq: sa.recvCq }) };
  b = { ...sb, qp: sb.pd.createQp({ ...init, sendCq: sb.cq, recvCq: sb.recvCq }) };
  connectPair(sa, a.qp, sb, b.qp);
});

afterAll(() => {
  for (const s of [a, b]) {
    s.qp.close();
    closeSide(s);
  }
});

/** Descriptor i of `d`: an RDMA op of `length` bytes between a's offset and b's offset, id `id`. */
function rdma(
  d: Uint32Array,
  i: number,
  op: number,
  id: number,
  local: number,
  remote: number,
  length: number,
) {
  const at = i * Desc.STRIDE;
  const addr = b.mr.addr + BigInt(remote);
  d.set([id, 0, op, SendFlags.SIGNALED, a.mr.id, local, 0, length, Number(addr & 0xffffffffn)], at);
  d[at + Desc.REMOTE_HIGH] = Number(addr >> 32n);
  d[at + Desc.RKEY] = b.mr.rkey;
}

/** The ids (low words) and statuses of `n` completions polled from `cq`'s ring, spinning while none. */
function drainRing(
  cq: CompletionQueue,
  n: number,
): { ids: number[]; statuses: Set<number>; ops: Set<number> } {
  const ids: number[] = [];
  const statuses = new Set<number>();
  const ops = new Set<number>();
  const until = Date.now() + 20_000;
  while (ids.length < n && Date.now() < until) {
    const got = cq.pollRing(cq.ringSize, 1000);
    expect(got).toBeLessThanOrEqual(cq.ringSize);
    for (let i = 0; i < got; i++) {
      ids.push(cq.ring[i * Wc.STRIDE + Wc.ID]);
      statuses.add(cq.ring[i * Wc.STRIDE + Wc.STATUS]);
      ops.add(cq.ring[i * Wc.STRIDE + Wc.OPCODE]);
    }
  }
  return { ids, statuses, ops };
}

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

describe('the verbs fast path on rxe', () => {
  it('WRITEs posted in one call land in the partner, and their ids come back through the ring', () => {
    const d = descriptors(64);
    for (let i = 0; i < 64; i++) {
      a.mr.buffer.writeUInt32LE(0x1000 + i, i * 16);
      rdma(d, i, Opcode.RDMA_WRITE, 1000 + i, i * 16, 8192 + i * 16, 4);
    }
    a.qp.postFast(d, 64);
    const { ids, statuses } = drainRing(a.cq, 64);
    expect(ids).toEqual(range(64, 1000));
    expect([...statuses]).toEqual([0]);
    for (let i = 0; i < 64; i++) expect(b.mr.buffer.readUInt32LE(8192 + i * 16)).toBe(0x1000 + i);
  });

  it('more READs than the ring holds come back in order, a ring at a time, with the bytes read', () => {
    b.mr.buffer.fill(0, 65536, 65536 + MANY);
    for (let i = 0; i < MANY; i++) b.mr.buffer[65536 + i] = i & 0xff;
    const d = descriptors(MANY);
    for (let i = 0; i < MANY; i++) rdma(d, i, Opcode.RDMA_READ, i, 131072 + i, 65536 + i, 1);
    a.qp.postFast(d, MANY);
    const { ids, statuses, ops } = drainRing(a.cq, MANY);
    expect(ids).toEqual(range(MANY));
    expect([...statuses, ...ops]).toEqual([0, native.constants.wcOpcode.RDMA_READ]);
    expect([...a.mr.buffer.subarray(131072, 131072 + MANY)]).toEqual(range(MANY).map((i) => i & 0xff));
  });

  it('a drain larger than the ring reaches the ring handler in calls of at most the ring, all ids in order', async () => {
    const calls: number[] = [];
    const ids: number[] = [];
    const all = new Promise<void>((resolve) =>
      a.cq.onRing((ring, count) => {
        calls.push(count);
        for (let i = 0; i < count; i++) ids.push(ring[i * Wc.STRIDE + Wc.ID]);
        if (ids.length === MANY) resolve();
      }),
    );
    const d = descriptors(MANY);
    for (let i = 0; i < MANY; i++) rdma(d, i, Opcode.RDMA_WRITE, 5000 + i, 0, 200000 + i * 8, 8);
    a.qp.postFast(d, MANY);
    await all;
    a.cq.onRing(null);
    expect(ids).toEqual(range(MANY, 5000));
    expect(Math.max(...calls)).toBeLessThanOrEqual(a.cq.ringSize);
  });

  it('receives posted from descriptors take SENDs with immediate data: ids, lengths and bytes', () => {
    const r = descriptors(8);
    for (let i = 0; i < 8; i++) {
      const at = i * Desc.STRIDE;
      r.set([70 + i, 0, 0, 0, b.mr.id, 300000 + i * 64, 0, 64], at);
    }
    b.qp.postRecvFast(r, 8);
    const s = descriptors(8);
    for (let i = 0; i < 8; i++) {
      a.mr.buffer.write(`message ${i}`, 400000 + i * 64);
      const at = i * Desc.STRIDE;
      s.set([i, 0, Opcode.SEND_WITH_IMM, SendFlags.SIGNALED, a.mr.id, 400000 + i * 64, 0, 9], at);
      s[at + Desc.IMM] = 0xabc00 + i;
    }
    a.qp.postFast(s, 8);
    expect(drainRing(a.cq, 8).ids).toEqual(range(8));
    const until = Date.now() + 20_000;
    const got: [number, number, number][] = [];
    while (got.length < 8 && Date.now() < until) {
      const n = b.recvCq.pollRing(8, 1000);
      for (let i = 0; i < n; i++) {
        const at = i * Wc.STRIDE;
        got.push([b.recvCq.ring[at + Wc.ID], b.recvCq.ring[at + Wc.BYTE_LEN], b.recvCq.ring[at + Wc.DATA]]);
      }
    }
    expect(got).toEqual(range(8).map((i) => [70 + i, 9, 0xabc00 + i]));
    for (let i = 0; i < 8; i++)
      expect(b.mr.buffer.toString('utf8', 300000 + i * 64, 300009 + i * 64)).toBe(`message ${i}`);
  });

  it('the promise API runs on the fast path: READ, WRITE, chains and receives keep their completions', async () => {
    b.mr.buffer.write('fast promise', 500000);
    const rd = await a.qp.read({
      local: { mr: a.mr, offset: 500000, length: 12 },
      remoteAddr: b.mr.addr + 500000n,
      rkey: b.mr.rkey,
    });
    expect(rd).toMatchObject({ status: 'SUCCESS', opcode: 'RDMA_READ', byteLen: 12, qpNum: a.qp.qpNum });
    expect(rd.wrId >= 1n << 63n).toBe(true);
    expect(a.mr.buffer.toString('utf8', 500000, 500012)).toBe('fast promise');
    const got = b.qp.recv({ local: { mr: b.mr, offset: 510000, length: 64 } });
    const last = await a.qp.chain([
      {
        opcode: 'RDMA_WRITE',
        sgl: [{ mr: a.mr, offset: 500000, length: 4 }],
        remoteAddr: b.mr.addr + 520000n,
        rkey: b.mr.rkey,
      },
      { opcode: 'SEND_WITH_IMM', sgl: [{ mr: a.mr, offset: 500005, length: 7 }], imm: 42 },
    ]);
    expect(last.opcode).toBe('SEND');
    expect(await got).toMatchObject({ opcode: 'RECV', byteLen: 7, immData: 42 });
    expect(b.mr.buffer.toString('utf8', 520000, 520004)).toBe('fast');
    expect(b.mr.buffer.toString('utf8', 510000, 510007)).toBe('promise');
  });

  it('bad descriptors are refused with a code, and nothing of the call is posted', () => {
    const d = descriptors(2);
    const good = () => rdma(d, 0, Opcode.RDMA_WRITE, 1, 0, 600000, 4);
    const refused = (change: () => void, code: string, count = 1, array: unknown = d) => {
      good();
      change();
      let err: { code?: string } | undefined;
      try {
        a.qp.postFast(array as Uint32Array, count);
      } catch (e) {
        err = e as { code?: string };
      }
      expect(err?.code, code).toBe(code);
    };
    refused(() => {}, 'ERR_INVALID_ARG_TYPE', 1, new Float64Array(Desc.STRIDE));
    refused(() => {}, 'ERR_INVALID_ARG_TYPE', 1, [1, 2, 3]);
    refused(() => {}, 'ERR_OUT_OF_RANGE', 3); // more than the array holds
    refused(() => {}, 'ERR_OUT_OF_RANGE', 1.5);
    refused(() => {}, 'ERR_OUT_OF_RANGE', -1);
    refused(() => (d[Desc.MR] = 0xfffffe), 'ERR_CLOSED'); // no such region
    refused(() => (d[Desc.MR] = b.mr.id), 'ERR_WRONG_PD');
    refused(() => (d[Desc.LENGTH] = 1 << 21), 'ERR_OUT_OF_RANGE'); // past the region's end
    refused(() => (d[Desc.OFFSET_HIGH] = 1), 'ERR_OUT_OF_RANGE');
    refused(() => ((d[Desc.MR] = Desc.NO_MR), (d[Desc.LENGTH] = 4)), 'ERR_OUT_OF_RANGE');
    refused(() => (d[Desc.OPCODE] = 99), 'ERR_UNKNOWN_OPCODE');
    refused(() => (d[Desc.OPCODE] = Opcode.ATOMIC_FETCH_AND_ADD), 'ERR_UNSUPPORTED');
    refused(() => (d[Desc.FLAGS] = 0x80), 'ERR_OUT_OF_RANGE');
    refused(
      () => ((d[Desc.FLAGS] = SendFlags.INLINE), (d[Desc.LENGTH] = a.qp.native.info().maxInlineData + 1)),
      'ERR_OUT_OF_RANGE',
    ); // more than the QP takes inline
    refused(() => (d[Desc.ID_HIGH] = 0x80000000), 'ERR_OUT_OF_RANGE'); // the library's ids
    // A bad second descriptor keeps the good first one from being posted too.
    refused(
      () => (rdma(d, 1, Opcode.RDMA_WRITE, 2, 0, 600000, 4), (d[Desc.STRIDE + Desc.OPCODE] = 99)),
      'ERR_UNKNOWN_OPCODE',
      2,
    );
    let err: { code?: string } | undefined;
    try {
      a.qp.postRecvFast(new Uint8Array(48) as unknown as Uint32Array, 1);
    } catch (e) {
      err = e as { code?: string };
    }
    expect(err?.code).toBe('ERR_INVALID_ARG_TYPE');
    expect(a.cq.pollRing(a.cq.ringSize, 20_000)).toBe(0);
  });

  it('a closed region, queue pair or CQ refuses with ERR_CLOSED', () => {
    const mr = a.pd.allocMemory(4096, verbs.Access.LOCAL_WRITE);
    const id = mr.id;
    mr.close();
    const d = descriptors(1);
    rdma(d, 0, Opcode.RDMA_WRITE, 1, 0, 600000, 4);
    d[Desc.MR] = id;
    expect(() => a.qp.postFast(d, 1)).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    // A later region does not answer to the closed one's id.
    const later = a.pd.allocMemory(4096, verbs.Access.LOCAL_WRITE);
    expect(later.id).not.toBe(id);
    expect(() => a.qp.postFast(d, 1)).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    later.close();
    const cq = a.ctx.createCq({ cqe: 16 });
    const qp = a.pd.createQp({ type: 'RC', sendCq: cq });
    qp.close();
    rdma(d, 0, Opcode.RDMA_WRITE, 1, 0, 600000, 4);
    expect(() => qp.postFast(d, 1)).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    expect(() => qp.postRecvFast(d, 1)).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    cq.close();
    expect(() => cq.pollRing()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
    expect(() => cq.poll()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }));
  });
});
