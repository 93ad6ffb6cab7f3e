// This package's side of the benchmarks: two RC queue pairs on the lab's devices (rxe0 ↔ rxe1),
// measured the way perftest measures — busy-polling completions (or memory, for WRITE ping-pong) with
// the raw post/poll API, so the event loop is not in the timed path.
import { Access, Context } from 'rdma-ccm/verbs';

const ALL = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ;

function side(dev, addr, size) {
  const ctx = new Context(dev);
  const hex = addr.split('.').map((n) => Number(n).toString(16).padStart(2, '0'));
  const gid = `0000:0000:0000:0000:0000:ffff:${hex[0]}${hex[1]}:${hex[2]}${hex[3]}`;
  const gidIndex = ctx.queryGidTable().find((g) => g.gid === gid && g.type === 'RoCEv2').index;
  const pd = ctx.allocPd();
  const cq = ctx.createCq({ cqe: 1024 });
  const qp = pd.createQp({ type: 'RC', sendCq: cq, maxSendWr: 256, maxRecvWr: 256, maxInlineData: 0 });
  const mr = pd.allocMemory(Math.max(size * 2, 4096), ALL);
  return { ctx, pd, cq, qp, mr, gid, gidIndex };
}

export function pair(size, devs = ['rxe0', 'rxe1'], addrs = ['10.99.0.1', '10.99.0.2']) {
  const a = side(devs[0], addrs[0], size);
  const b = side(devs[1], addrs[1], size);
  a.qp.connectTo({ qpNum: b.qp.qpNum, gid: b.gid }, { sgidIndex: a.gidIndex, access: ALL & ~Access.LOCAL_WRITE });
  b.qp.connectTo({ qpNum: a.qp.qpNum, gid: a.gid }, { sgidIndex: b.gidIndex, access: ALL & ~Access.LOCAL_WRITE });
  return {
    a,
    b,
    close() {
      for (const s of [a, b]) {
        s.qp.close();
        s.mr.close();
        s.cq.close();
        s.pd.close();
        s.ctx.close();
      }
    },
  };
}

function waitCq(cq, n = 1) {
  let got = 0;
  while (got < n) got += cq.pollCount(16);
  return got;
}

const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
};

/** READ latency: one READ at a time, time to its completion (like ib_read_lat), median µs. */
export function readLat(size, iters) {
  const p = pair(size);
  const { a, b } = p;
  const t = [];
  const read = a.qp.prepareSend([{ wrId: 1n, opcode: 'RDMA_READ', sgl: [{ mr: a.mr, offset: 0, length: size }], remoteAddr: b.mr.addr, rkey: b.mr.rkey, signaled: true }]);
  for (let i = 0; i < iters + 10; i++) {
    const t0 = process.hrtime.bigint();
    read.post();
    waitCq(a.cq);
    if (i >= 10) t.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  read.release();
  p.close();
  return median(t);
}

/** WRITE latency: ping-pong of WRITEs, each side polling its memory for the last byte (like ib_write_lat): RTT/2. */
export function writeLat(size, iters) {
  const p = pair(size);
  const { a, b } = p;
  const t = [];
  const last = size - 1;
  const wa = a.qp.prepareSend([{ wrId: 1n, opcode: 'RDMA_WRITE', sgl: [{ mr: a.mr, offset: 0, length: size }], remoteAddr: b.mr.addr, rkey: b.mr.rkey, signaled: true }]);
  const wb = b.qp.prepareSend([{ wrId: 2n, opcode: 'RDMA_WRITE', sgl: [{ mr: b.mr, offset: 0, length: size }], remoteAddr: a.mr.addr, rkey: a.mr.rkey, signaled: true }]);
  const bufA = a.mr.buffer;
  const bufB = b.mr.buffer;
  for (let i = 1; i <= iters + 10; i++) {
    const n = i & 0xff || 1;
    const t0 = process.hrtime.bigint();
    bufA[last] = n;
    wa.post();
    while (bufB[last] !== n);
    wb.post();
    while (bufA[last] !== n);
    if (i > 10) t.push(Number(process.hrtime.bigint() - t0) / 2000);
    waitCq(a.cq);
    waitCq(b.cq);
  }
  wa.release();
  wb.release();
  p.close();
  return median(t);
}

/** SEND latency: ping-pong of SENDs into posted receives (like ib_send_lat): RTT/2. */
export function sendLat(size, iters) {
  const p = pair(size);
  const { a, b } = p;
  const t = [];
  const recvs = (s, n) => s.qp.postRecv(Array.from({ length: n }, () => ({ wrId: 7n, sgl: [{ mr: s.mr, offset: size, length: size }] })));
  const sa = a.qp.prepareSend([{ wrId: 8n, opcode: 'SEND', sgl: [{ mr: a.mr, offset: 0, length: size }], signaled: true }]);
  const sb = b.qp.prepareSend([{ wrId: 8n, opcode: 'SEND', sgl: [{ mr: b.mr, offset: 0, length: size }], signaled: true }]);
  let posted = 200;
  recvs(a, 200);
  recvs(b, 200);
  for (let i = 0; i < iters + 10; i++) {
    if (--posted < 50) {
      recvs(a, 150);
      recvs(b, 150);
      posted += 150;
    }
    const t0 = process.hrtime.bigint();
    sa.post();
    waitCq(b.cq); // b's receive
    sb.post();
    waitCq(a.cq, 2); // a's send completion and a's receive
    if (i >= 10) t.push(Number(process.hrtime.bigint() - t0) / 2000);
    waitCq(b.cq); // b's send completion
  }
  sa.release();
  sb.release();
  p.close();
  return median(t);
}

/** Bandwidth of WRITE or READ with up to `depth` outstanding (like ib_{write,read}_bw), MB/s (10^6). */
export function bandwidth(op, size, iters, depth = 128) {
  const p = pair(size);
  const { a, b } = p;
  const CHAIN = 16;
  const chain = a.qp.prepareSend(
    Array.from({ length: CHAIN }, (_, i) => ({ wrId: BigInt(i), opcode: op === 'read' ? 'RDMA_READ' : 'RDMA_WRITE', sgl: [{ mr: a.mr, offset: 0, length: size }], remoteAddr: b.mr.addr, rkey: b.mr.rkey, signaled: i === CHAIN - 1 })),
  );
  const chains = Math.ceil(iters / CHAIN);
  let posted = 0;
  let done = 0;
  const t0 = process.hrtime.bigint();
  while (done < chains) {
    while (posted < chains && (posted - done) * CHAIN < depth) {
      chain.post();
      posted++;
    }
    done += a.cq.pollCount(16);
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  chain.release();
  p.close();
  const n = chains * CHAIN;
  return { bwMBps: (size * n) / secs / 1e6, mpps: n / secs / 1e6 };
}

/**
 * READ latency through the promise API (`await qp.read()`): the completion reaches JavaScript through
 * the event loop, as it does in the CCM's handshake. A round trip as a CCM step sees it.
 */
export async function readLatAsync(size, iters) {
  const p = pair(size);
  const { a, b } = p;
  const t = [];
  for (let i = 0; i < iters + 10; i++) {
    const t0 = process.hrtime.bigint();
    await a.qp.read({ local: { mr: a.mr, offset: 0, length: size }, remoteAddr: b.mr.addr, rkey: b.mr.rkey });
    if (i >= 10) t.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  p.close();
  return median(t);
}
