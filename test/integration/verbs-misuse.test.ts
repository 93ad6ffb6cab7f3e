// Misuse of every verbs and CM object on real devices: wrong orders, wrong values, closed objects,
// collected references. Each case must end in a JS error with a code (or a correct result), never a
// crash; a crash here kills the test process and fails the suite.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { connect, contextFor, createQueuePair, listen } from '../../lib/cm';
import { CmId } from '../../lib/cm/cm-id';
import { Access, Context, type MemoryRegion } from '../../lib/verbs';
import { lab, recordFault } from './lab';
import { closeSide, openSide, rcPair } from './verbs-pair';

const env = lab();
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? `no code: ${String(e)}`;
  }
  return 'no error';
};

/**
 * The start of a child script (an ES module) that opens sides of the lab link: the package's verbs
 * module, the lab's devices and addresses, and side(dev, ip, bytes?, access?), the shared lab side
 * (test/support/lab-side.mjs) with an RC QP and a region (4096 bytes, local write, unless told otherwise).
 */
const childPrologue = `
      import { createRequire } from 'node:module';
      import { openSide } from ${JSON.stringify(pathToFileURL(resolve(__dirname, '..', 'support', 'lab-side.mjs')).href)};
      const require = createRequire(${JSON.stringify(__filename)});
      const verbs = require(${JSON.stringify(resolve(__dirname, '..', '..', 'dist', 'verbs'))});
      const { Access } = verbs;
      const [d0, d1] = ${JSON.stringify(env.devices)};
      const addrs = ${JSON.stringify(env.addrs)};
      const side = (dev, ip, bytes = 4096, access = Access.LOCAL_WRITE) => openSide(verbs, dev, ip, { bytes, access, qp: {} });
`;
/** Runs a child script (after childPrologue) with the collector exposed. */
const child = (script: string) =>
  spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', childPrologue + script], {
    encoding: 'utf8',
    timeout: 60_000,
  });

describe('verbs misuse on rxe', () => {
  it('refuses wrong types and values with a code', () => {
    expect(code(() => new Context('no-such-device'))).toBe('ENODEV');
    expect(code(() => new Context(42 as unknown as string))).toBe('ERR_INVALID_ARG_TYPE');
    const ctx = new Context(env.devices[0]);
    const pd = ctx.allocPd();
    expect(code(() => pd.registerMemory('text' as unknown as Uint8Array, Access.LOCAL_WRITE))).toBe(
      'ERR_INVALID_ARG_TYPE',
    );
    expect(code(() => pd.allocMemory(0, Access.LOCAL_WRITE))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => pd.allocMemory(-5, Access.LOCAL_WRITE))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => pd.allocMemory(4096, 1 << 20))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => pd.allocMemory(4096, Access.REMOTE_WRITE))).toBe('ERR_INVALID_ACCESS');
    expect(code(() => ctx.queryPort(99))).toMatch(/^(EINVAL|ERR_OUT_OF_RANGE)$/);
    // More entries than the device allows: the driver refuses, and what the CQ had made (its channel) is undone.
    expect(code(() => ctx.createCq({ cqe: ctx.queryDevice().maxCqe + 1 }))).toMatch(/^E[A-Z]+$/);
    const cq = ctx.createCq();
    expect(code(() => pd.createQp({ type: 'XX' as 'RC', sendCq: cq }))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => pd.createQp({ type: 'RC', sendCq: {} as typeof cq }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(code(() => pd.createQp({ type: 'RC', sendCq: cq, maxSendWr: 0 }))).toBe('ERR_OUT_OF_RANGE');
    const qp = pd.createQp({ type: 'RC', sendCq: cq });
    const mr = pd.allocMemory(4096, Access.LOCAL_WRITE);
    expect(code(() => qp.modify({ qpState: 'RTS' }))).toBe('ERR_QP_STATE');
    expect(code(() => qp.modify({ qpState: 'FLYING' as 'RTS' }))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => qp.modify({ pathMtu: 1000 as 1024 }))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => qp.modify({}))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => qp.postSend([{ wrId: 1n, opcode: 'TELEPORT' as 'SEND' }]))).toBe('ERR_UNKNOWN_OPCODE');
    expect(code(() => qp.postSend([{ wrId: 1n, opcode: 2 as unknown as 'SEND' }]))).toBe(
      'ERR_INVALID_ARG_TYPE',
    );
    expect(code(() => qp.postSend([{ wrId: -1n, opcode: 'SEND' }]))).toBe('ERR_OUT_OF_RANGE');
    expect(
      code(() => qp.postSend([{ wrId: 1n, opcode: 'SEND', sgl: [{ mr, offset: 4000, length: 200 }] }])),
    ).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => qp.postSend([{ wrId: 1n, opcode: 'RDMA_READ', sgl: [{ mr, length: 8 }] }]))).toBe(
      'ERR_INVALID_ARG_TYPE',
    );
    expect(
      code(() =>
        qp.postSend([
          {
            wrId: 1n,
            opcode: 'ATOMIC_FETCH_AND_ADD',
            sgl: [{ mr, length: 8 }],
            remoteAddr: 3n,
            rkey: 1,
            compareAdd: 1n,
          },
        ]),
      ),
    ).toBe('ERR_OUT_OF_RANGE');
    expect(
      code(() => qp.postSend([{ wrId: 1n, opcode: 'SEND', sgl: [{ mr, length: 100 }], inline: true }])),
    ).toBe('ERR_OUT_OF_RANGE');
    // A QP in RESET refuses work at the driver: a system error, not a crash.
    expect(code(() => qp.postSend([{ wrId: 1n, opcode: 'SEND', sgl: [{ mr, length: 8 }] }]))).toMatch(
      /^E[A-Z]+$/,
    );
    qp.close();
    mr.close();
    cq.close();
    pd.close();
    ctx.close();
  });

  it('use after close, double close and parents closed first', () => {
    const ctx = new Context(env.devices[0]);
    const pd = ctx.allocPd();
    const cq = ctx.createCq();
    const qp = pd.createQp({ type: 'RC', sendCq: cq });
    const mr = pd.allocMemory(4096, Access.LOCAL_WRITE);
    expect(code(() => ctx.close())).toBe('ERR_BUSY');
    expect(code(() => pd.close())).toBe('ERR_BUSY');
    expect(code(() => cq.close())).toBe('ERR_BUSY');
    qp.close();
    qp.close();
    expect(qp.state).toBe('CLOSED');
    expect(code(() => qp.postSend([{ wrId: 1n, opcode: 'SEND', sgl: [{ mr, length: 8 }] }]))).toBe(
      'ERR_CLOSED',
    );
    expect(code(() => qp.modify({ qpState: 'INIT' }))).toBe('ERR_CLOSED');
    mr.close();
    mr.close();
    expect(code(() => mr.buffer)).toMatch(/^(ERR_CLOSED|no error)$/);
    const qp2 = pd.createQp({ type: 'RC', sendCq: cq, recvCq: cq }); // the PD and CQ are still usable
    expect(code(() => cq.close())).toBe('ERR_BUSY');
    qp2.close();
    for (const spin of [-1, 1.5, 1_000_001, NaN]) {
      expect(code(() => cq.pollCount(1, spin))).toBe('ERR_OUT_OF_RANGE');
      expect(code(() => cq.poll(1, spin))).toBe('ERR_OUT_OF_RANGE');
    }
    expect(code(() => cq.pollCount(1, '5' as unknown as number))).toBe('ERR_INVALID_ARG_TYPE');
    cq.close();
    expect(code(() => cq.poll())).toBe('ERR_CLOSED');
    expect(code(() => cq.pollCount(1, 1000))).toBe('ERR_CLOSED');
    expect(code(() => pd.allocMemory(64, 0))).toBe('no error');
    expect(code(() => pd.close())).toBe('ERR_BUSY');
    expect(code(() => ctx.queryPort(1))).toBe('no error');
  });

  it('a region under a receive cannot be closed; a detached buffer cannot be registered', () => {
    const ctx = new Context(env.devices[0]);
    const pd = ctx.allocPd();
    const cq = ctx.createCq();
    const qp = pd.createQp({ type: 'RC', sendCq: cq });
    qp.modify({ qpState: 'INIT', pkeyIndex: 0, portNum: 1, qpAccessFlags: 0 });
    const mr: MemoryRegion = pd.allocMemory(4096, Access.LOCAL_WRITE);
    void qp.recv({ local: { mr, length: 64 } }).catch(() => {});
    expect(code(() => mr.close())).toBe('ERR_BUSY');
    qp.close(); // flushes the receive
    expect(code(() => mr.close())).toBe('no error');
    const ab = new ArrayBuffer(4096);
    structuredClone(ab, { transfer: [ab] });
    expect(code(() => pd.registerMemory(ab, Access.LOCAL_WRITE))).toBe('ERR_DETACHED');
  });

  it('garbage collection while work is in flight frees nothing under the device, and finalizers free everything after', () => {
    // A child process drops every reference to a QP, its regions and buffers while READs are posted,
    // collects garbage, and must still exit cleanly after the completions arrive. Then, with nothing
    // in flight, the finalizers must have destroyed every QP, CQ, region and PD: the kernel's resource
    // lists for the process are counted (they held 2 of each while the work was posted).
    const script = `
      let results = 0;
      (function () {
        const a = side(d0, addrs[0], 1 << 16, Access.LOCAL_WRITE | Access.REMOTE_READ);
        const b = side(d1, addrs[1], 1 << 16, Access.LOCAL_WRITE | Access.REMOTE_READ);
        a.connectTo({ qpNum: b.qp.qpNum, gid: b.gid }, Access.REMOTE_READ);
        b.connectTo({ qpNum: a.qp.qpNum, gid: a.gid }, Access.REMOTE_READ);
        for (let i = 0; i < 32; i++)
          a.qp.read({ local: { mr: a.mr, offset: i * 1024, length: 1024 }, remoteAddr: b.mr.addr, rkey: b.mr.rkey }).then(() => results++);
      })();
      const { execFileSync } = require('node:child_process');
      const held = () => ['qp', 'cq', 'mr', 'pd'].map((k) => k + ' ' + JSON.parse(execFileSync('rdma', ['-j', 'resource', 'show', k], { encoding: 'utf8' }) || '[]').flat().filter((x) => x.pid === process.pid).length).join(', ');
      const during = held();
      for (let i = 0; i < 5; i++) global.gc();
      setTimeout(async () => {
        console.log('completed ' + results);
        console.log('while posted: ' + during);
        for (let i = 0; i < 50 && held() !== 'qp 0, cq 0, mr 0, pd 0'; i++) {
          global.gc();
          await new Promise((r) => setTimeout(r, 100));
        }
        console.log('after collection: ' + held());
      }, 3000);
    `;
    const r = child(script);
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    const lines = r.stdout.trim().split('\n');
    expect(lines).toEqual([
      'completed 32',
      'while posted: qp 2, cq 2, mr 2, pd 2',
      'after collection: qp 0, cq 0, mr 0, pd 0',
    ]);
    const left = (lines[2].match(/\d+/g) ?? []).reduce((n, x) => n + Number(x), 0);
    recordFault('garbage collection with work requests in flight (finalizers checked)', { leaked: left });
  });

  it('a post the device accepts only in part tracks the requests it accepted: their region stays busy until they complete', async () => {
    const a = openSide(0);
    const b = openSide(1);
    const [qa, qb] = rcPair(a, b, { a: { maxSendWr: 4 } });
    const mr = a.pd.allocMemory(4096, Access.LOCAL_WRITE);
    const wrs = Array.from({ length: 64 }, (_, i) => ({
      wrId: BigInt(i),
      opcode: 'RDMA_WRITE' as const,
      signaled: true,
      sgl: [{ mr, length: 64 }],
      remoteAddr: b.mr.addr,
      rkey: b.mr.rkey,
    }));
    let err: (Error & { code?: string; posted?: number }) | undefined;
    try {
      qa.postSend(wrs);
    } catch (e) {
      err = e as typeof err;
    }
    // The send queue holds a few: the rest are refused, and the error says how many went.
    expect(err?.code).toBe('ENOMEM');
    expect(err!.posted).toBeGreaterThan(0);
    expect(err!.posted).toBeLessThan(64);
    // Those are in flight: their region cannot be closed under them.
    expect(code(() => mr.close())).toBe('ERR_BUSY');
    for (let i = 0; i < 200 && mr.inflight > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(mr.inflight).toBe(0);
    // A chain has only its last request signaled: when the post takes it in part, the chain rejects with
    // `posted`, and the requests it took stay in flight (unsignaled, nothing retires them) until the QP
    // is closed and flushes them (which is why a CCM link ends on such a post before reusing its staging).
    const chained = await qa.chain(wrs.map(({ wrId, signaled, ...w }) => w)).then(
      () => null,
      (e: Error & { code?: string; posted?: number }) => e,
    );
    expect(chained?.code).toBe('ENOMEM');
    expect(chained!.posted).toBeGreaterThan(0);
    expect(chained!.posted).toBeLessThan(64);
    for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 10));
    expect(mr.inflight).toBe(chained!.posted);
    expect(code(() => mr.close())).toBe('ERR_BUSY');
    qa.close();
    expect(mr.inflight).toBe(0);
    expect(code(() => mr.close())).toBe('no error');
    qb.close();
    closeSide(a);
    closeSide(b);
  });

  it('a registered ArrayBuffer transferred away keeps its memory until the region closes: the NIC never writes freed memory', () => {
    // A child registers its own ArrayBuffer for remote writes, transfers it away (structuredClone),
    // drops both and collects garbage, then allocates fresh buffers of the same size (where freed memory
    // would be reused) and has the partner WRITE into the region: none of the fresh buffers may change.
    const script = `
      (async () => {
        const a = side(d0, addrs[0]);
        const b = side(d1, addrs[1]);
        const RW = Access.REMOTE_READ | Access.REMOTE_WRITE;
        a.connectTo({ qpNum: b.qp.qpNum, gid: b.gid }, RW);
        b.connectTo({ qpNum: a.qp.qpNum, gid: a.gid }, RW);
        let mine = new ArrayBuffer(4096);
        const mr = b.pd.registerMemory(mine, Access.LOCAL_WRITE | RW);
        let moved = structuredClone(mine, { transfer: [mine] });
        console.log('detached: ' + (mine.byteLength === 0));
        mine = null;
        moved = null;
        for (let i = 0; i < 10; i++) {
          global.gc();
          await new Promise((r) => setTimeout(r, 20));
        }
        const fresh = Array.from({ length: 512 }, () => new Uint8Array(4096));
        a.mr.buffer.fill(0x42);
        await a.qp.write({ local: { mr: a.mr, offset: 0, length: 4096 }, remoteAddr: mr.addr, rkey: mr.rkey });
        console.log('fresh memory changed by the write: ' + fresh.some((f) => f.some((x) => x === 0x42)));
        a.mr.buffer.fill(0);
        await a.qp.read({ local: { mr: a.mr, offset: 0, length: 4096 }, remoteAddr: mr.addr, rkey: mr.rkey });
        console.log('read back: ' + a.mr.buffer.every((x) => x === 0x42));
        mr.close();
        // Memory the region allocated itself cannot be transferred away from it at all, or stays whole.
        const own = b.pd.allocMemory(4096, Access.LOCAL_WRITE);
        let refused = false;
        try { structuredClone(own.buffer.buffer, { transfer: [own.buffer.buffer] }); } catch { refused = true; }
        own.buffer.fill(7);
        console.log('own memory usable: ' + (refused || own.length === 4096));
        process.exit(0);
      })().catch((e) => { console.log('failed: ' + e.code + ' ' + e.message); process.exit(1); });
    `;
    const r = child(script);
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual([
      'detached: true',
      'fresh memory changed by the write: false',
      'read back: true',
      'own memory usable: true',
    ]);
  });

  it('a bound memory window keeps its region: dropped and collected, the region stays registered and readable through the window', () => {
    // A child drops its last reference to a region right after binding a type 2 window over it, then
    // collects garbage: the window holds the region, so the memory a partner reaches is never freed.
    const script = `
      const finalized = [];
      const registry = new FinalizationRegistry((what) => finalized.push(what));
      (async () => {
        const a = side(d0, addrs[0]);
        const b = side(d1, addrs[1]);
        a.connectTo({ qpNum: b.qp.qpNum, gid: b.gid }, Access.REMOTE_READ);
        b.connectTo({ qpNum: a.qp.qpNum, gid: a.gid }, Access.REMOTE_READ);
        const mw = b.pd.allocMw(2);
        const { rkey, addr } = await (async () => {
          const mr = b.pd.allocMemory(1 << 16, Access.LOCAL_WRITE | Access.REMOTE_READ | Access.MW_BIND);
          mr.buffer.fill(0x77);
          registry.register(mr, 'region');
          return { rkey: await b.qp.bindWindow(mw, { mr, offset: 0, length: 4096, access: Access.REMOTE_READ }), addr: mr.addr };
        })();
        for (let i = 0; i < 10; i++) {
          global.gc();
          await new Promise((r) => setTimeout(r, 50));
        }
        console.log('region collected while bound: ' + finalized.includes('region'));
        await a.qp.read({ local: { mr: a.mr, offset: 0, length: 64 }, remoteAddr: addr, rkey });
        console.log('read through the window: ' + a.mr.buffer.subarray(0, 64).every((x) => x === 0x77));
        process.exit(0);
      })().catch((e) => { console.log('failed: ' + e.code + ' ' + e.message); process.exit(1); });
    `;
    const r = child(script);
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual([
      'region collected while bound: false',
      'read through the window: true',
    ]);
  });

  it("a CM id destroyed under its queue pair settles the pair's outstanding work instead of leaving it pending", async () => {
    const ca = await contextFor(env.addrs[0]);
    const cb = await contextFor(env.addrs[1]);
    const pa = ca.allocPd();
    const pb = cb.allocPd();
    const l = await listen({ address: env.addrs[0], port: 7599 });
    const served = (async () => {
      for await (const req of l) return req.accept({ pd: pa });
    })();
    const client = await connect({ address: env.addrs[0], port: 7599, sourceAddress: env.addrs[1], pd: pb });
    const srv = (await served)!;
    const mr = pb.allocMemory(64, Access.LOCAL_WRITE);
    const pending = client.qp.recv({ local: { mr, offset: 0, length: 64 } });
    // librdmacm destroys the queue pair it made with the id: the receive must settle, not hang.
    (client as unknown as { id: CmId }).id.destroy();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_WC_WR_FLUSH_ERR' });
    expect(client.qp.closed).toBe(true);
    expect(code(() => mr.close())).toBe('no error');
    client.close();
    srv.close();
    l.close();
    pa.close();
    pb.close();
  });

  it('CM misuse: bad addresses, answering twice, closing twice', async () => {
    await expect(listen({ address: 'not-an-address', port: 1 })).rejects.toMatchObject({
      code: 'ERR_INVALID_ADDRESS',
    });
    await expect(listen({ address: env.addrs[0], port: 70000 })).rejects.toMatchObject({
      code: 'ERR_OUT_OF_RANGE',
    });
    await expect(connect({ address: env.addrs[0], port: 7000, pd: {} as never })).rejects.toMatchObject({
      code: expect.stringMatching(/^(ERR_INVALID_ARG_TYPE|ERR_CM_REJECTED|ERR_CM_UNREACHABLE)$/),
    });
    const l = await listen({ address: env.addrs[0], port: 7999 });
    l.close();
    l.close();
    expect(l.closed).toBe(true);
  });

  it('CM moves of a queue pair of ones own, out of order or on the wrong id: a code, never a crash', async () => {
    const ctx = await contextFor(env.addrs[0]);
    const pd = ctx.allocPd();
    const cq = ctx.createCq();
    const qp = createQueuePair({ localAddress: env.addrs[0], pd, sendCq: cq });
    const id = new CmId();
    expect(code(() => id.native.transitionQp(qp.native, 'INIT'))).toBe('ERR_CM_NO_DEVICE');
    id.native.bindAddr(env.addrs[0], 0);
    // @ts-expect-error not a QP, on purpose
    expect(code(() => id.native.transitionQp({}, 'INIT'))).toBe('ERR_INVALID_ARG_TYPE');
    // @ts-expect-error a state the CM does not move to, on purpose
    expect(code(() => id.native.transitionQp(qp.native, 'SQD'))).toBe('ERR_OUT_OF_RANGE');
    expect(code(() => id.native.transitionQp(qp.native, 'RTS'))).toBe('ERR_QP_STATE');
    // @ts-expect-error attributes that are not an object, on purpose
    expect(code(() => id.native.transitionQp(qp.native, 'RTR', 'not an object'))).toMatch(
      /^(ERR_INVALID_ARG_TYPE|E[A-Z]+)$/,
    );
    // No connection on the id: the CM has no path for the QP, and there is nothing to establish or accept.
    expect(code(() => id.native.transitionQp(qp.native, 'RTR'))).toMatch(/^E[A-Z]+$/);
    expect(code(() => id.native.establish())).toMatch(/^E[A-Z]+$/);
    expect(code(() => id.native.accept({ qp: qp.native }))).toMatch(/^E[A-Z]+$/);
    // @ts-expect-error a CQ for the QP, on purpose
    expect(code(() => id.native.connect({ qp: cq.native }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(['INIT', 'RTR']).toContain(qp.state);
    qp.close();
    expect(code(() => id.native.transitionQp(qp.native, 'INIT'))).toBe('ERR_CLOSED');
    id.destroy();
    expect(code(() => id.native.establish())).toBe('ERR_CLOSED');
    cq.close();
    pd.close();
  });
});
