#!/usr/bin/env node
// Verbs "hello": two RC queue pairs, one on each of the lab's two rxe devices, connected to each other by
// hand; A WRITEs a greeting into B's memory, then READs B's answer back. Every byte is checked.
//
//   npx rdma-ccm lab -- node examples/hello-verbs.mjs
//
// On a host with two rxe devices of its own, name them and their addresses:
//   RDMA_CCM_LAB_DEVICES=rxe0,rxe1 RDMA_CCM_LAB_ADDRS=10.99.0.1,10.99.0.2 node examples/hello-verbs.mjs
import { Access, Context } from 'rdma-ccm/verbs';

const [devA, devB] = (process.env.RDMA_CCM_LAB_DEVICES ?? 'rxe0,rxe1').split(',');
const [ipA, ipB] = (process.env.RDMA_CCM_LAB_ADDRS ?? '10.99.0.1,10.99.0.2').split(',');

// One end: a device context, the RoCE v2 GID of its address, a protection domain, a completion queue,
// 4 KiB of registered memory the partner may read and write, and an RC queue pair.
function open(device, address) {
  const ctx = new Context(device);
  const gid = ctx.findGid(address);
  const pd = ctx.allocPd();
  const cq = ctx.createCq();
  const mr = pd.allocMemory(4096, Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ);
  const qp = pd.createQp({ type: 'RC', sendCq: cq });
  return { ctx, pd, cq, mr, qp, gid, close: () => [qp, mr, cq, pd, ctx].forEach((o) => o.close()) };
}

const a = open(devA, ipA);
const b = open(devB, ipB);
// RESET → INIT → RTR → RTS, each towards the other (what the CM does for you in hello-cm.mjs).
const access = Access.REMOTE_WRITE | Access.REMOTE_READ;
a.qp.connectTo({ qpNum: b.qp.qpNum, gid: b.gid.gid }, { sgidIndex: a.gid.index, access });
b.qp.connectTo({ qpNum: a.qp.qpNum, gid: a.gid.gid }, { sgidIndex: b.gid.index, access });

// WRITE: A's bytes land in B's memory; B's CPU takes no part.
const greeting = Buffer.from(`hello from ${devA}`);
greeting.copy(a.mr.buffer, 0);
await a.qp.write({
  local: { mr: a.mr, offset: 0, length: greeting.length },
  remoteAddr: b.mr.addr,
  rkey: b.mr.rkey,
});
const written = b.mr.buffer.toString('utf8', 0, greeting.length);

// READ: A fetches what B keeps at offset 1024 into its own memory at offset 2048.
const answer = Buffer.from(`hello from ${devB}`);
answer.copy(b.mr.buffer, 1024);
await a.qp.read({
  local: { mr: a.mr, offset: 2048, length: answer.length },
  remoteAddr: b.mr.addr + 1024n,
  rkey: b.mr.rkey,
});
const read = a.mr.buffer.toString('utf8', 2048, 2048 + answer.length);

a.close();
b.close();
if (written !== greeting.toString() || read !== answer.toString()) {
  console.error(`hello-verbs: bytes differ (wrote ${JSON.stringify(written)}, read ${JSON.stringify(read)})`);
  process.exit(1);
}
console.log(`write: ${devB} holds "${written}"`);
console.log(`read: ${devA} got "${read}"`);
