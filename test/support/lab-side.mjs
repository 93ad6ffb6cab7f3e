// One side of a lab link, for tests, their child processes and the benchmarks alike: a context on a lab
// device, the RoCE v2 GID of its address, a PD, a CQ (and a receive CQ of its own when asked), a region,
// and an RC queue pair when asked. `verbs` is the caller's verbs module (the sources in tests, the
// package in child processes and benchmarks), so that the objects are of the caller's classes.

/**
 * @param {typeof import('../../lib/verbs')} verbs
 * @param {string} device
 * @param {string} address
 * @param {{ bytes?: number, access?: number, cqe?: number, recvCq?: boolean, qp?: object }} [o]
 */
export function openSide(verbs, device, address, o = {}) {
  const { Access, Context } = verbs;
  const ctx = new Context(device);
  const { gid, index: gidIndex } = ctx.findGid(address);
  const pd = ctx.allocPd();
  const cq = ctx.createCq({ cqe: o.cqe ?? 256 });
  const recvCq = o.recvCq ? ctx.createCq({ cqe: o.cqe ?? 256 }) : cq;
  const mr = pd.allocMemory(
    o.bytes ?? 1 << 16,
    o.access ?? Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ | Access.REMOTE_ATOMIC,
  );
  const qp = o.qp ? pd.createQp({ type: 'RC', sendCq: cq, recvCq, ...o.qp }) : undefined;
  return {
    ctx,
    pd,
    cq,
    recvCq,
    mr,
    qp,
    gid,
    gidIndex,
    address,
    /** This side's queue pair to RTS towards the partner's (`qpNum` and `gid`, perhaps from another process). */
    connectTo(peer, access) {
      qp.connectTo({ qpNum: peer.qpNum, gid: peer.gid }, { sgidIndex: gidIndex, access });
    },
    close() {
      qp?.close();
      mr.close();
      if (recvCq !== cq) recvCq.close();
      cq.close();
      pd.close();
      ctx.close();
    },
  };
}
