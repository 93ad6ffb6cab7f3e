#!/usr/bin/env node
// A durable remote write with the IBTA memory placement extensions: a log record is written into the
// partner's memory, FLUSHed to global visibility in the same batch of the extended send API, and the
// partner then reads the bytes back. Both ends live in this process, one on each of the lab's devices:
//
//   rdma-ccm lab --stack trixie -- node examples/flush.mjs
//
// It needs a kernel whose rxe has FLUSH (6.2 on) and an rdma-core with ibv_wr_flush (45 on).
import { Access, Context } from 'rdma-ccm/verbs';

const [devA, devB] = (process.env.RDMA_CCM_LAB_DEVICES ?? 'rxe0,rxe1').split(',');
const [ipA, ipB] = (process.env.RDMA_CCM_LAB_ADDRS ?? '10.99.0.1,10.99.0.2').split(',');
const RECORD = Buffer.from(
  'log record 1: 4 KiB of a write, mirrored before it is acknowledged'.padEnd(4096, '.'),
);

function side(device, address, access, sendOps) {
  const ctx = new Context(device);
  const gid = ctx.findGid(address);
  const pd = ctx.allocPd();
  const cq = ctx.createCq();
  const mr = pd.allocMemory(RECORD.length, access);
  const qp = pd.createQp({ type: 'RC', sendCq: cq, sendOps });
  return { ctx, pd, cq, mr, qp, gid, close: () => [qp, mr, cq, pd, ctx].forEach((o) => o.close()) };
}

const probe = new Context(devA);
const caps = probe.queryDevice().capabilities;
probe.close();
if (!caps.flushGlobal || !caps.flushInThisBuild) {
  console.error(
    `flush: not on this stack (device FLUSH_GLOBAL: ${caps.flushGlobal}, ibv_wr_flush in this build: ${caps.flushInThisBuild}); run it with rdma-ccm lab --stack trixie`,
  );
  process.exit(1);
}
// The writer posts WRITE and FLUSH; the partner's region and QP allow both.
const writer = side(devA, ipA, Access.LOCAL_WRITE, ['RDMA_WRITE', 'FLUSH']);
const partner = side(devB, ipB, Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.FLUSH_GLOBAL);
const remoteAccess = Access.REMOTE_WRITE | Access.FLUSH_GLOBAL;
writer.qp.connectTo(
  { qpNum: partner.qp.qpNum, gid: partner.gid.gid },
  { sgidIndex: writer.gid.index, access: remoteAccess },
);
partner.qp.connectTo(
  { qpNum: writer.qp.qpNum, gid: writer.gid.gid },
  { sgidIndex: partner.gid.index, access: remoteAccess },
);

RECORD.copy(writer.mr.buffer);
const target = { remoteAddr: partner.mr.addr, rkey: partner.mr.rkey };
// One batch: the FLUSH completes only once the WRITE before it is placed in the partner's memory.
const [, flushed] = await writer.qp.batch([
  { opcode: 'RDMA_WRITE', sgl: [{ mr: writer.mr, offset: 0, length: RECORD.length }], ...target },
  { opcode: 'FLUSH', ...target, flush: { placement: 'global', selectivity: 'range', length: RECORD.length } },
]);
// The partner reads its memory: every byte of the record is there.
const placed = partner.mr.buffer.subarray(0, RECORD.length);
if (flushed.opcode !== 'FLUSH' || !placed.equals(RECORD)) {
  console.error('flush: the partner does not hold the record');
  process.exit(1);
}
console.log(`flush: ${placed.length} bytes placed`);
writer.close();
partner.close();
