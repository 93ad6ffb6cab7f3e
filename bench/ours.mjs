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

function waitCq(cq) {
  for (;;) {
    const wcs = cq.poll(16);
    if (wcs.length) {
      for (const wc of wcs) if (wc.status !== 'SUCCESS') throw new Error(`completion ${wc.status}`);
      return wcs.length;
    }
  }
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
  const wr = [{ wrId: 1n, opcode: 'RDMA_READ', sgl: [{ mr: a.mr, offset: 0, length: size }], remoteAddr: b.mr.addr, rkey: b.mr.rkey, signaled: true }];
  for (let i = 0; i < iters + 10; i++) {
    const t0 = process.hrtime.bigint();
    a.qp.postSend(wr);
    waitCq(a.cq);
    if (i >= 10) t.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  p.close();
  return median(t);
}

/** WRITE latency: ping-pong of WRITEs, each side polling its memory for the last byte (like ib_write_lat): RTT/2. */
export function writeLat(size, iters) {
  const p = pair(size);
  const { a, b } = p;
  const t = [];
  const last = size - 1;
  const post = (from, to, n) => {
    from.mr.buffer[last] = n & 0xff;
    from.qp.postSend([{ wrId: BigInt(n), opcode: 'RDMA_WRITE', sgl: [{ mr: from.mr, offset: 0, length: size }], remoteAddr: to.mr.addr, rkey: to.mr.rkey, signaled: true }]);
  };
  for (let i = 1; i <= iters + 10; i++) {
    const n = i & 0xff || 1;
    const t0 = process.hrtime.bigint();
    post(a, b, n);
    while (b.mr.buffer[last] !== n);
    post(b, a, n);
    while (a.mr.buffer[last] !== n);
    waitCq(a.cq);
    waitCq(b.cq);
    if (i > 10) t.push(Number(process.hrtime.bigint() - t0) / 2000);
  }
  p.close();
  return median(t);
}

/** SEND latency: ping-pong of SENDs into posted receives (like ib_send_lat): RTT/2. */
export function sendLat(size, iters) {
  const p = pair(size);
  const { a, b } = p;
  const t = [];
  const recv = (s) => s.qp.postRecv([{ wrId: 7n, sgl: [{ mr: s.mr, offset: size, length: size }] }]);
  const send = (s) => s.qp.postSend([{ wrId: 8n, opcode: 'SEND', sgl: [{ mr: s.mr, offset: 0, length: size }], signaled: true }]);
  recv(a);
  recv(b);
  const waitN = (cq, n) => {
    let got = 0;
    while (got < n) got += waitCq(cq);
  };
  for (let i = 0; i < iters + 10; i++) {
    const t0 = process.hrtime.bigint();
    send(a);
    waitN(b.cq, 1); // b's receive
    recv(b);
    send(b);
    waitN(a.cq, 2); // a's send completion and a's receive
    recv(a);
    waitN(b.cq, 1); // b's send completion
    if (i >= 10) t.push(Number(process.hrtime.bigint() - t0) / 2000);
  }
  p.close();
  return median(t);
}

/** Bandwidth of WRITE or READ with `depth` outstanding (like ib_{write,read}_bw -t depth), MB/s (10^6). */
export function bandwidth(op, size, iters, depth = 128) {
  const p = pair(size);
  const { a, b } = p;
  const wr = { wrId: 1n, opcode: op === 'read' ? 'RDMA_READ' : 'RDMA_WRITE', sgl: [{ mr: a.mr, offset: 0, length: size }], remoteAddr: b.mr.addr, rkey: b.mr.rkey, signaled: true };
  let posted = 0;
  let done = 0;
  const t0 = process.hrtime.bigint();
  while (done < iters) {
    const n = Math.min(depth - (posted - done), iters - posted, 16);
    if (n > 0) {
      a.qp.postSend(Array.from({ length: n }, () => wr));
      posted += n;
    }
    for (const wc of a.cq.poll(32)) {
      if (wc.status !== 'SUCCESS') throw new Error(`completion ${wc.status}`);
      done++;
    }
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  p.close();
  return { bwMBps: (size * iters) / secs / 1e6, mpps: iters / secs / 1e6 };
}
