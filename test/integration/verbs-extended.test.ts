// The extended send API on rxe (ibv_qp_ex: ibv_wr_start … ibv_wr_complete), and the memory placement
// extensions, ATOMIC_WRITE and FLUSH, where the kernel and rdma-core have them (rxe from kernel 6.2,
// ibv_wr_flush from rdma-core 45: the trixie stack) and refused with ERR_NOT_SUPPORTED where they do not
// (the bookworm stack). Every operation is checked by the bytes that changed on the other side.
import { execFileSync, spawnSync } from 'node:child_process';
import { release } from 'node:os';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Access, QueuePair, type OpcodeName } from '../../lib/verbs';
import { ALL, closeSide, connectPair, openSide, type Side } from './verbs-pair';

const [major, minor] = release().split('.').map(Number);
/** rxe places ATOMIC_WRITE and FLUSH from kernel 6.2 on. */
const kernelHasPlacement = major > 6 || (major === 6 && minor >= 2);
const rdmaCore = Number(
  execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'rdma-core'], { encoding: 'utf8' }).split('.')[0],
);
/** ibv_wr_flush came with rdma-core 45. */
const buildHasFlush = rdmaCore >= 45;

const BASIC: OpcodeName[] = [
  'RDMA_WRITE',
  'RDMA_WRITE_WITH_IMM',
  'SEND',
  'SEND_WITH_IMM',
  'RDMA_READ',
  'ATOMIC_CMP_AND_SWP',
  'ATOMIC_FETCH_AND_ADD',
];
const FLUSHABLE = ALL | Access.FLUSH_GLOBAL;

let a: Side;
let b: Side;
const qps: QueuePair[] = [];

/** An RC pair whose initiator (on a) posts `sendOps` through the extended API; b takes `access`. */
function extendedPair(sendOps: OpcodeName[], access = ALL & ~Access.LOCAL_WRITE, type: 'RC' | 'UC' = 'RC') {
  const qa = a.pd.createQp({ type, sendCq: a.cq, maxSendWr: 64, maxRecvWr: 64, sendOps });
  const qb = b.pd.createQp({ type, sendCq: b.cq, maxSendWr: 64, maxRecvWr: 64 });
  qps.push(qa, qb);
  connectPair(a, qa, b, qb, access);
  return [qa, qb] as const;
}

const code = async (p: Promise<unknown> | (() => unknown)) => {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return (e as { code?: string }).code ?? `no code: ${String(e)}`;
  }
  return 'no error';
};

beforeAll(() => {
  a = openSide(0);
  b = openSide(1);
});

afterAll(() => {
  for (const q of qps) q.close();
  closeSide(a);
  closeSide(b);
});

describe('extended verbs on rxe', () => {
  it('reports the placement capabilities this kernel and rdma-core have', () => {
    const caps = a.ctx.queryDevice().capabilities;
    expect(caps).toMatchObject({
      atomicWrite: kernelHasPlacement,
      flushGlobal: kernelHasPlacement,
      flushPersistent: kernelHasPlacement,
      flushInThisBuild: buildHasFlush,
    });
    // rxe stamps no completions with the device's clock.
    expect(caps.completionTimestamps).toBe(false);
    expect(typeof a.ctx.queryDevice().deviceCapFlagsEx).toBe('bigint');
  });

  it('one batch mixes WRITE, WRITE_WITH_IMM, SEND, READ and both atomics; each lands, in order', async () => {
    const [qa, qb] = extendedPair(BASIC);
    const recvs = [qb.recv({}), qb.recv({ local: { mr: b.mr, offset: 12000, length: 64 } })];
    a.mr.buffer.write('batched write', 0);
    a.mr.buffer.write('batched imm', 100);
    a.mr.buffer.write('batched send', 200);
    b.mr.buffer.write('read back in the batch', 3000);
    b.mr.buffer.writeBigUInt64LE(7n, 4096);
    b.mr.buffer.writeBigUInt64LE(100n, 4104);
    const wcs = await qa.batch([
      {
        opcode: 'RDMA_WRITE',
        sgl: [{ mr: a.mr, offset: 0, length: 13 }],
        remoteAddr: b.mr.addr + 1000n,
        rkey: b.mr.rkey,
      },
      {
        opcode: 'RDMA_WRITE_WITH_IMM',
        sgl: [{ mr: a.mr, offset: 100, length: 11 }],
        remoteAddr: b.mr.addr + 2000n,
        rkey: b.mr.rkey,
        imm: 77,
      },
      { opcode: 'SEND', sgl: [{ mr: a.mr, offset: 200, length: 12 }] },
      {
        opcode: 'RDMA_READ',
        sgl: [{ mr: a.mr, offset: 300, length: 22 }],
        remoteAddr: b.mr.addr + 3000n,
        rkey: b.mr.rkey,
      },
      {
        opcode: 'ATOMIC_CMP_AND_SWP',
        sgl: [{ mr: a.mr, offset: 400, length: 8 }],
        remoteAddr: b.mr.addr + 4096n,
        rkey: b.mr.rkey,
        compareAdd: 7n,
        swap: 9n,
      },
      {
        opcode: 'ATOMIC_FETCH_AND_ADD',
        sgl: [{ mr: a.mr, offset: 408, length: 8 }],
        remoteAddr: b.mr.addr + 4104n,
        rkey: b.mr.rkey,
        compareAdd: 5n,
      },
    ]);
    expect(wcs.map((w) => [w.status, w.opcode])).toEqual([
      ['SUCCESS', 'RDMA_WRITE'],
      ['SUCCESS', 'RDMA_WRITE'],
      ['SUCCESS', 'SEND'],
      ['SUCCESS', 'RDMA_READ'],
      ['SUCCESS', 'COMP_SWAP'],
      ['SUCCESS', 'FETCH_ADD'],
    ]);
    expect(b.mr.buffer.toString('utf8', 1000, 1013)).toBe('batched write');
    expect(b.mr.buffer.toString('utf8', 2000, 2011)).toBe('batched imm');
    const [imm, send] = await Promise.all(recvs);
    expect(imm).toMatchObject({ opcode: 'RECV_RDMA_WITH_IMM', immData: 77 });
    expect(send).toMatchObject({ opcode: 'RECV', byteLen: 12 });
    expect(b.mr.buffer.toString('utf8', 12000, 12012)).toBe('batched send');
    expect(a.mr.buffer.toString('utf8', 300, 322)).toBe('read back in the batch');
    expect([a.mr.buffer.readBigUInt64LE(400), b.mr.buffer.readBigUInt64LE(4096)]).toEqual([7n, 9n]);
    expect([a.mr.buffer.readBigUInt64LE(408), b.mr.buffer.readBigUInt64LE(4104)]).toEqual([100n, 105n]);
  });

  it('inline data and a gather list of three entries in one batch; on rxe, a gather list of unequal entries is refused', async () => {
    const qa = a.pd.createQp({
      type: 'RC',
      sendCq: a.cq,
      maxSendWr: 16,
      maxSendSge: 4,
      maxInlineData: 64,
      sendOps: ['RDMA_WRITE'],
    });
    const qb = b.pd.createQp({ type: 'RC', sendCq: b.cq });
    qps.push(qa, qb);
    connectPair(a, qa, b, qb);
    a.mr.buffer.write('inline!', 500);
    a.mr.buffer.write('one-', 600);
    a.mr.buffer.write('two-', 700);
    a.mr.buffer.write('six!', 800);
    await qa.batch([
      {
        opcode: 'RDMA_WRITE',
        inline: true,
        sgl: [
          { mr: a.mr, offset: 500, length: 4 },
          { mr: a.mr, offset: 504, length: 3 },
        ],
        remoteAddr: b.mr.addr + 5000n,
        rkey: b.mr.rkey,
      },
      {
        opcode: 'RDMA_WRITE',
        sgl: [
          { mr: a.mr, offset: 600, length: 4 },
          { mr: a.mr, offset: 700, length: 4 },
          { mr: a.mr, offset: 800, length: 4 },
        ],
        remoteAddr: b.mr.addr + 5100n,
        rkey: b.mr.rkey,
      },
    ]);
    expect(b.mr.buffer.toString('utf8', 5000, 5007)).toBe('inline!');
    expect(b.mr.buffer.toString('utf8', 5100, 5112)).toBe('one-two-six!');
    // rxe's ibv_wr_set_sge_list (before rdma-core 64) counts every entry at the first one's length.
    const uneven = [
      { mr: a.mr, offset: 600, length: 4 },
      { mr: a.mr, offset: 700, length: 5 },
    ];
    expect(
      await code(
        qa.batch([{ opcode: 'RDMA_WRITE', sgl: uneven, remoteAddr: b.mr.addr + 5200n, rkey: b.mr.rkey }]),
      ),
    ).toBe('ERR_NOT_SUPPORTED');
    // ibv_post_send counts it right: the same QP takes it that way.
    await qa.write({ local: uneven[1], remoteAddr: b.mr.addr + 5200n, rkey: b.mr.rkey });
  });

  it('refuses misuse before anything is posted', async () => {
    const [qa] = extendedPair(['RDMA_WRITE']);
    const w = {
      opcode: 'RDMA_WRITE' as const,
      sgl: [{ mr: a.mr, offset: 0, length: 8 }],
      remoteAddr: b.mr.addr,
      rkey: b.mr.rkey,
    };
    // A QP made without sendOps has no extended API.
    const plain = a.pd.createQp({ type: 'RC', sendCq: a.cq });
    qps.push(plain);
    expect(await code(() => plain.postBatch([{ ...w, wrId: 1n }]))).toBe('ERR_UNSUPPORTED');
    expect(await code(() => a.pd.createQp({ type: 'RC', sendCq: a.cq, sendOps: [] }))).toBe(
      'ERR_OUT_OF_RANGE',
    );
    expect(
      await code(() => a.pd.createQp({ type: 'RC', sendCq: a.cq, sendOps: ['NOPE' as OpcodeName] })),
    ).toBe('ERR_UNKNOWN_OPCODE');
    expect(
      await code(() =>
        a.pd.createQp({ type: 'RC', sendCq: a.cq, sendOps: 'RDMA_WRITE' as unknown as OpcodeName[] }),
      ),
    ).toBe('ERR_INVALID_ARG_TYPE');
    expect(await code(() => a.pd.createQp({ type: 'UD', sendCq: a.cq, sendOps: ['RDMA_READ'] }))).toBe(
      'ERR_UNSUPPORTED',
    );
    expect(
      await code(() => a.pd.createQp({ type: 'UC', sendCq: a.cq, sendOps: ['ATOMIC_FETCH_AND_ADD'] })),
    ).toBe('ERR_UNSUPPORTED');
    // An opcode the QP was not made for, a bad request after a good one: neither is posted.
    expect(
      await code(
        qa.batch([
          w,
          {
            opcode: 'RDMA_READ',
            sgl: [{ mr: a.mr, offset: 0, length: 8 }],
            remoteAddr: b.mr.addr,
            rkey: b.mr.rkey,
          },
        ]),
      ),
    ).toBe('ERR_UNSUPPORTED');
    expect(await code(qa.batch([w, { ...w, sgl: [{ mr: a.mr, offset: a.mr.length, length: 8 }] }]))).toBe(
      'ERR_OUT_OF_RANGE',
    );
    expect(await code(qa.batch([]))).toBe('ERR_INVALID_ARG_TYPE');
    // ATOMIC_WRITE and FLUSH go through batches only.
    expect(
      await code(() =>
        qa.postSend([
          { wrId: 1n, opcode: 'ATOMIC_WRITE', remoteAddr: b.mr.addr, rkey: b.mr.rkey, value: 1n },
        ]),
      ),
    ).toBe('ERR_UNSUPPORTED');
    expect(
      await code(() =>
        qa.prepareSend([
          {
            wrId: 1n,
            opcode: 'FLUSH',
            remoteAddr: b.mr.addr,
            rkey: b.mr.rkey,
            flush: { placement: 'global', length: 8 },
          },
        ]),
      ),
    ).toBe('ERR_UNSUPPORTED');
    // Nothing of the refused batches completed: the CQ holds no completion of qa.
    await new Promise((r) => setTimeout(r, 200));
    expect(a.cq.poll(16).filter((c) => c.qpNum === qa.qpNum)).toEqual([]);
    // The QP works on.
    b.mr.buffer.fill(0, 0, 8);
    a.mr.buffer.write('afterall', 0);
    await qa.batch([w]);
    expect(b.mr.buffer.toString('utf8', 0, 8)).toBe('afterall');
    // A region in flight stays open; a closed QP says so.
    const inflight = a.pd.allocMemory(64, Access.LOCAL_WRITE);
    const p = qa.batch([{ ...w, sgl: [{ mr: inflight, offset: 0, length: 8 }] }]);
    expect(await code(() => inflight.close())).toBe('ERR_BUSY');
    await p;
    inflight.close();
    qa.close();
    expect(await code(qa.batch([w]))).toBe('ERR_CLOSED');
  });

  it.runIf(kernelHasPlacement)(
    'ATOMIC_WRITE places 8 bytes that the partner only ever sees whole',
    async () => {
      const [qa] = extendedPair(['ATOMIC_WRITE', 'RDMA_READ']);
      const at = b.mr.addr + 8192n;
      const view = new BigUint64Array(b.mr.buffer.buffer, b.mr.buffer.byteOffset + 8192, 1);
      const A = 0x1111111111111111n;
      const B = 0x2222222222222222n;
      view[0] = A;
      const seen = new Set<bigint>();
      for (let i = 0; i < 200; i++) {
        const wc = qa.atomicWrite({ remoteAddr: at, rkey: b.mr.rkey, value: i % 2 ? A : B });
        let done = false;
        const settled = wc.then(
          () => void (done = true),
          () => void (done = true),
        );
        // The partner reads its memory while the writes land (between turns of the event loop, which
        // delivers the completion): never a mix of the two values.
        while (!done) {
          seen.add(Atomics.load(view, 0));
          await new Promise((r) => setImmediate(r));
        }
        await settled;
        expect((await wc).opcode).toBe('ATOMIC_WRITE');
        seen.add(Atomics.load(view, 0));
      }
      expect([...seen].every((v) => v === A || v === B)).toBe(true);
      expect(view[0]).toBe(A);
      expect(await code(qa.atomicWrite({ remoteAddr: at + 4n, rkey: b.mr.rkey, value: 1n }))).toBe(
        'ERR_OUT_OF_RANGE',
      );
      expect(await code(qa.batch([{ opcode: 'ATOMIC_WRITE', remoteAddr: at, rkey: b.mr.rkey }]))).toBe(
        'ERR_INVALID_ARG_TYPE',
      );
      expect(
        await code(
          qa.batch([
            {
              opcode: 'ATOMIC_WRITE',
              remoteAddr: at,
              rkey: b.mr.rkey,
              value: 1n,
              sgl: [{ mr: a.mr, offset: 0, length: 8 }],
            },
          ]),
        ),
      ).toBe('ERR_OUT_OF_RANGE');
      // A region the partner did not open for writes is refused on the wire, and its bytes stay.
      const readOnly = b.pd.allocMemory(64, Access.LOCAL_WRITE | Access.REMOTE_READ);
      readOnly.buffer.fill(0x11, 0, 8);
      expect(
        await code(qa.atomicWrite({ remoteAddr: readOnly.addr, rkey: readOnly.rkey, value: B })),
      ).toMatch(/^ERR_WC_/);
      expect(readOnly.buffer.readBigUInt64LE(0)).toBe(0x1111111111111111n);
      readOnly.close();
    },
  );

  it.runIf(kernelHasPlacement && buildHasFlush)(
    'FLUSH after WRITE: the bytes are placed for every reader when the FLUSH completes',
    async () => {
      const target = b.pd.allocMemory(1 << 16, FLUSHABLE);
      const [qa] = extendedPair(
        ['RDMA_WRITE', 'FLUSH', 'RDMA_READ'],
        (ALL & ~Access.LOCAL_WRITE) | Access.FLUSH_GLOBAL,
      );
      a.mr.buffer.fill(0x5a, 0, 4096);
      const wcs = await qa.batch([
        {
          opcode: 'RDMA_WRITE',
          sgl: [{ mr: a.mr, offset: 0, length: 4096 }],
          remoteAddr: target.addr,
          rkey: target.rkey,
        },
        {
          opcode: 'FLUSH',
          remoteAddr: target.addr,
          rkey: target.rkey,
          flush: { placement: 'global', selectivity: 'range', length: 4096 },
        },
      ]);
      expect(wcs.map((w) => [w.status, w.opcode])).toEqual([
        ['SUCCESS', 'RDMA_WRITE'],
        ['SUCCESS', 'FLUSH'],
      ]);
      expect(target.buffer.subarray(0, 4096).every((x) => x === 0x5a)).toBe(true);
      // The whole region, by the promise helper; then the partner's bytes read back over the wire.
      expect(
        (
          await qa.flush({
            remoteAddr: target.addr,
            rkey: target.rkey,
            placement: 'global',
            selectivity: 'region',
          })
        ).opcode,
      ).toBe('FLUSH');
      a.mr.buffer.fill(0, 8192, 8192 + 4096);
      await qa.read({
        local: { mr: a.mr, offset: 8192, length: 4096 },
        remoteAddr: target.addr,
        rkey: target.rkey,
      });
      expect(a.mr.buffer.subarray(8192, 8192 + 4096).every((x) => x === 0x5a)).toBe(true);
      // A region registered without FLUSH_GLOBAL is refused on the wire: the FLUSH fails at the partner.
      const plain = b.pd.allocMemory(4096, ALL);
      const refused = await code(
        qa.flush({ remoteAddr: plain.addr, rkey: plain.rkey, placement: 'global', length: 8 }),
      );
      expect(refused).toMatch(/^ERR_WC_/);
      expect(
        await code(() =>
          qa.batch([
            {
              opcode: 'FLUSH',
              remoteAddr: target.addr,
              rkey: target.rkey,
              flush: { placement: 'somewhere' as 'global', length: 8 },
            },
          ]),
        ),
      ).toBe('ERR_OUT_OF_RANGE');
      expect(
        await code(() =>
          qa.batch([
            {
              opcode: 'FLUSH',
              remoteAddr: target.addr,
              rkey: target.rkey,
              flush: { placement: 'global', selectivity: 'nowhere' as 'range', length: 8 },
            },
          ]),
        ),
      ).toBe('ERR_OUT_OF_RANGE');
      expect(
        await code(() =>
          qa.batch([
            { opcode: 'FLUSH', remoteAddr: target.addr, rkey: target.rkey, flush: { placement: 'global' } },
          ]),
        ),
      ).toBe('ERR_INVALID_ARG_TYPE');
      plain.close();
      target.close();
    },
  );

  it('an extended CQ (ibv_create_cq_ex, read with start/next/end_poll) delivers through the event loop and by polling', async () => {
    const xcq = a.ctx.createCq({ extended: true, cqe: 64 });
    const xrcq = b.ctx.createCq({ extended: true, cqe: 64 });
    const qa = a.pd.createQp({ type: 'RC', sendCq: xcq, sendOps: ['RDMA_WRITE', 'SEND', 'RDMA_READ'] });
    const qb = b.pd.createQp({ type: 'RC', sendCq: xrcq });
    connectPair(a, qa, b, qb);
    // Promise-level work: its completions come back through libuv watching the channel.
    const got = qb.recv({ local: { mr: b.mr, offset: 14000, length: 32 } });
    a.mr.buffer.write('through cq_ex', 900);
    expect((await qa.send({ local: { mr: a.mr, offset: 900, length: 13 }, imm: 5 })).opcode).toBe('SEND');
    expect(await got).toMatchObject({ opcode: 'RECV', byteLen: 13, immData: 5, qpNum: qb.qpNum });
    expect(b.mr.buffer.toString('utf8', 14000, 14013)).toBe('through cq_ex');
    // Raw work polled: a batch of three, then a prepared READ posted and polled in one call.
    qa.postBatch(
      [1n, 2n, 3n].map((wrId) => ({
        wrId,
        opcode: 'RDMA_WRITE' as const,
        sgl: [{ mr: a.mr, offset: 900, length: 13 }],
        remoteAddr: b.mr.addr + 15000n + wrId * 16n,
        rkey: b.mr.rkey,
        signaled: true,
      })),
    );
    const polled: bigint[] = [];
    for (const end = Date.now() + 10_000; polled.length < 3 && Date.now() < end; )
      polled.push(...xcq.poll(16, 1000).map((c) => c.wrId));
    expect(polled).toEqual([1n, 2n, 3n]);
    expect(b.mr.buffer.toString('utf8', 15048, 15061)).toBe('through cq_ex');
    const prepared = qa.prepareSend([
      {
        wrId: 9n,
        opcode: 'RDMA_READ',
        sgl: [{ mr: a.mr, offset: 1000, length: 13 }],
        remoteAddr: b.mr.addr + 15048n,
        rkey: b.mr.rkey,
        signaled: true,
      },
    ]);
    expect(prepared.postAndPoll(xcq, 1_000_000)).toBe(1);
    expect(a.mr.buffer.toString('utf8', 1000, 1013)).toBe('through cq_ex');
    prepared.release();
    // A failed completion arrives as one: a READ with a wrong rkey.
    const bad = await code(
      qa.read({ local: { mr: a.mr, offset: 0, length: 8 }, remoteAddr: b.mr.addr, rkey: b.mr.rkey ^ 0xff }),
    );
    expect(bad).toBe('ERR_WC_REM_ACCESS_ERR');
    qa.close();
    qb.close();
    xcq.close();
    xrcq.close();
    // rxe stamps no completions: a CQ that asks for timestamps is refused, naming why.
    expect(() => a.ctx.createCq({ timestamps: true })).toThrow(
      expect.objectContaining({ code: 'ERR_NOT_SUPPORTED', message: expect.stringContaining('timestamps') }),
    );
  });

  it('examples/flush.mjs: WRITE, FLUSH, the partner holds the bytes (where the stack has FLUSH; else it says so)', () => {
    const r = spawnSync(process.execPath, [resolve(__dirname, '..', '..', 'examples', 'flush.mjs')], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    if (kernelHasPlacement && buildHasFlush)
      expect([r.status, r.stdout.trim()]).toEqual([0, 'flush: 4096 bytes placed']);
    else expect([r.status, r.stderr]).toEqual([1, expect.stringContaining('flush: not on this stack')]);
  });

  it.runIf(!kernelHasPlacement)(
    'without ATOMIC_WRITE and FLUSH in the kernel, each is refused naming what is missing',
    async () => {
      const err = (fn: () => unknown) => {
        try {
          fn();
        } catch (e) {
          return e as { code?: string; message: string };
        }
        return { code: 'no error', message: '' };
      };
      expect(err(() => a.pd.createQp({ type: 'RC', sendCq: a.cq, sendOps: ['ATOMIC_WRITE'] }))).toMatchObject(
        { code: 'ERR_NOT_SUPPORTED', message: expect.stringContaining('ATOMIC_WRITE') },
      );
      expect(
        err(() => a.pd.createQp({ type: 'RC', sendCq: a.cq, sendOps: ['RDMA_WRITE', 'FLUSH'] })),
      ).toMatchObject({ code: 'ERR_NOT_SUPPORTED', message: expect.stringContaining('FLUSH') });
      expect(err(() => a.pd.allocMemory(4096, FLUSHABLE))).toMatchObject({
        code: 'ERR_NOT_SUPPORTED',
        message: expect.stringContaining('FLUSH_GLOBAL'),
      });
      expect(err(() => a.pd.allocMemory(4096, ALL | Access.FLUSH_PERSISTENT))).toMatchObject({
        code: 'ERR_NOT_SUPPORTED',
        message: expect.stringContaining('FLUSH_PERSISTENT'),
      });
      const qp = a.pd.createQp({ type: 'RC', sendCq: a.cq });
      qps.push(qp);
      expect(
        err(() =>
          qp.modify({
            qpState: 'INIT',
            pkeyIndex: 0,
            portNum: 1,
            qpAccessFlags: Access.REMOTE_WRITE | Access.FLUSH_GLOBAL,
          }),
        ),
      ).toMatchObject({ code: 'ERR_NOT_SUPPORTED' });
      expect(qp.state).toBe('RESET');
    },
  );
});
