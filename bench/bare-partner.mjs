// The late partner of the bare RDMA CM connect, as its own process: the package loaded and its device open
// (as bench/late-partner.mjs), then on "start" a PD and a listener, and the first request accepted the
// plain way (the CM makes the QP at accept). The comparison for the CCM's late partner: what any RDMA CM
// connection to a process that has just started listening costs (with RDMA_CCM_CODE_CACHE, one whose
// package code was compiled in an earlier run).
import { createInterface } from 'node:readline';
// First: the code cache (RDMA_CCM_CODE_CACHE) covers only what loads after it.
import { saveCodeCache } from 'rdma-ccm/code-cache';
import { contextFor, listen } from 'rdma-ccm/cm';
import { ADDR_B } from './lab-env.mjs';

const port = Number(process.argv[2]);
const context = await contextFor(ADDR_B);
process.stdout.write('{"type":"loaded"}\n');
let conn = null;
let listener = null;
let pd = null;
for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'start') {
    pd = context.allocPd();
    listener = await listen({ address: ADDR_B, port });
    process.stdout.write('{"type":"listening"}\n');
    for await (const req of listener) {
      conn = await req.accept({ pd });
      break;
    }
  }
  if (line === 'stop') {
    // With RDMA_CCM_CODE_CACHE, what this run compiled is kept for the next partner process.
    await saveCodeCache();
    conn?.close();
    listener?.close();
    pd?.close();
    process.exit(0);
  }
}
