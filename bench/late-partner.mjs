// The late partner of the handshake benchmark, as its own process: it loads the package and opens its
// device first, then starts its CCM when told to (a line on stdin). Its events, one JSON line each, are
// printed when it stops: writing them out as they happen would cost the cold process time in the very
// window being measured.
import { createInterface } from 'node:readline';
import { ClusterNode, saveCodeCache } from 'rdma-ccm/ccm';
import { contextFor } from 'rdma-ccm/cm';
import { ADDR_A, ADDR_B } from './lab-env.mjs';

const [port, probeMs] = process.argv.slice(2).map(Number);
await contextFor(ADDR_B);
const node = new ClusterNode({
  clusterId: 9n,
  nodeId: 2,
  address: ADDR_B,
  port,
  partners: [{ nodeId: 1, address: ADDR_A, port }],
  backoff: { minMs: probeMs, maxMs: probeMs, jitter: 0 },
});
const events = [];
node.on('event', (e) => events.push({ ...e, at: performance.timeOrigin + performance.now() }));
process.stdout.write('{"type":"loaded"}\n');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line === 'start') await node.start();
  if (line === 'stop') {
    // With RDMA_CCM_CODE_CACHE, what this run compiled is kept for the next partner process.
    await saveCodeCache();
    await node.stop();
    process.stdout.write(events.map((e) => `${JSON.stringify(e)}\n`).join(''), () => process.exit(0));
  }
}
