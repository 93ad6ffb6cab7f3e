// The partner of bench/handshake-trace.mjs: one process that starts its CCM again and again ("start PORT",
// "stop", "exit" on stdin), so that only its first handshake runs cold. One JSON line per event.
import { createInterface } from 'node:readline';
import { ClusterNode } from 'rdma-ccm/ccm';
import { contextFor } from 'rdma-ccm/cm';
import { ADDR_A, ADDR_B } from './lab-env.mjs';

await contextFor(ADDR_B);
process.stdout.write('{"type":"loaded"}\n');
let node = null;
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, port] = line.split(' ');
  if (cmd === 'start') {
    node = new ClusterNode({
      clusterId: 9n,
      nodeId: 2,
      address: ADDR_B,
      port: Number(port),
      partners: [{ nodeId: 1, address: ADDR_A, port: Number(port) }],
      backoff: { minMs: 100, maxMs: 100, jitter: 0 },
    });
    node.on('event', (e) =>
      process.stdout.write(`${JSON.stringify({ ...e, at: performance.timeOrigin + performance.now() })}\n`),
    );
    await node.start();
  }
  if (cmd === 'stop') {
    await node.stop();
    process.stdout.write('{"type":"halted"}\n');
  }
  if (cmd === 'exit') process.exit(0);
}
