// WRITE and SEND ping-pong latency the way ib_write_lat / ib_send_lat measure it: each side in its own
// process (the partner side is bench/pingpong-partner.mjs), busy-waiting for the partner's message and
// answering it; the initiator stamps the clock at each post, and half the time between two posts is the
// one-way latency (median). Each side polls its send CQ once per iteration, as perftest does.
import * as verbs from 'rdma-ccm/verbs';
import { openSide } from '../test/support/lab-side.mjs';

const { Access } = verbs;

const ALL = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ;
/** Where a side's incoming WRITEs land in its region (its outgoing bytes start at 0). */
export const RX = 1 << 20;
/** Iterations dropped at the start: the partner process is fresh and its code not yet compiled. */
export const WARMUP = 50;
/** How long one poll spins in the addon for a completion (µs): one call per completion, as perftest's C loop. */
export const SPIN_US = 100_000;

/** One side: device, PD, separate send and receive CQs, an RC QP and a region for both directions (also the sides of bench/ours.mjs's in-process pairs). */
export function endpoint(dev, addr, size) {
  const s = openSide(verbs, dev, addr, {
    bytes: RX + Math.max(size, 4096),
    access: ALL,
    cqe: 512,
    recvCq: true,
    qp: { maxSendWr: 256, maxRecvWr: 256, maxInlineData: 0 },
  });
  return {
    qp: s.qp,
    mr: s.mr,
    sendCq: s.cq,
    recvCq: s.recvCq,
    /** What the partner needs to connect to this side and write into it. */
    info: { qpNum: s.qp.qpNum, gid: s.gid, addr: String(s.mr.addr), rkey: s.mr.rkey },
    connect: (peer) => s.connectTo(peer, ALL & ~Access.LOCAL_WRITE),
    close: () => s.close(),
  };
}

/**
 * Prepares the ping-pong on an endpoint connected to its partner (receives posted, the work request built)
 * and returns its run: `iters` rounds, where the initiator posts first and gets the one-way latencies in
 * µs, and the partner answers each message.
 */
export function pingPong(ep, peer, op, size) {
  const { qp, mr, sendCq, recvCq } = ep;
  const last = size - 1;
  const buf = mr.buffer;
  const post = qp.prepareSend([
    op === 'WRITE'
      ? {
          wrId: 1n,
          opcode: 'RDMA_WRITE',
          sgl: [{ mr, offset: 0, length: size }],
          remoteAddr: BigInt(peer.addr) + BigInt(RX),
          rkey: peer.rkey,
          signaled: true,
        }
      : { wrId: 1n, opcode: 'SEND', sgl: [{ mr, offset: 0, length: size }], signaled: true },
  ]);
  let posted = 0;
  const recvs = (n) => {
    qp.postRecv(Array.from({ length: n }, () => ({ wrId: 2n, sgl: [{ mr, offset: RX, length: size }] })));
    posted += n;
  };
  if (op === 'SEND') recvs(200);
  // A non-shared typed array read in a loop with no calls may be hoisted by the optimizer: Atomics.load
  // reads memory every time, as the NIC may change it at any moment.
  const arrived =
    op === 'WRITE' ? (n) => Atomics.load(buf, RX + last) === n : () => recvCq.pollCount(1, SPIN_US) === 1;
  return (iters, initiator) => {
    const stamps = [];
    let unpolled = 0;
    for (let i = 0; i < iters; i++) {
      const n = (i % 255) + 1;
      if (!initiator || i > 0) while (!arrived(initiator ? ((i - 1) % 255) + 1 : n));
      if (op === 'SEND' && --posted < 50) recvs(150);
      buf[last] = n;
      if (initiator) stamps.push(process.hrtime.bigint());
      post.post();
      unpolled++;
      unpolled -= sendCq.pollCount(16);
    }
    if (initiator) {
      while (!arrived(((iters - 1) % 255) + 1));
      stamps.push(process.hrtime.bigint());
    }
    while (unpolled > 0) unpolled -= sendCq.pollCount(16);
    post.release();
    const lat = [];
    for (let i = WARMUP + 1; i < stamps.length; i++) lat.push(Number(stamps[i] - stamps[i - 1]) / 2000);
    return lat;
  };
}
