#!/usr/bin/env node
// CCM "hello": two cluster nodes in one process, node 1 on the first lab address and node 2 on the
// second. They find each other, run the one-sided handshake, and node 1 mirrors one log record to node 2,
// which prints it. append() resolves once node 2's application has the record.
//
//   npx rdma-ccm lab -- node examples/hello-ccm.mjs
//
// On a host with rxe devices of its own: RDMA_CCM_LAB_ADDRS=10.99.0.1,10.99.0.2 node examples/hello-ccm.mjs
import { ClusterNode } from 'rdma-ccm/ccm';

const [ip1, ip2] = (process.env.RDMA_CCM_LAB_ADDRS ?? '10.99.0.1,10.99.0.2').split(',');
const port = Number(process.env.HELLO_PORT ?? 7471);
const secret = 'a secret both nodes share';

const node = (nodeId, address, partnerId, partnerAddress) =>
  new ClusterNode({
    clusterId: 4242n,
    nodeId,
    address,
    port,
    partners: [{ nodeId: partnerId, address: partnerAddress, port }],
    secret,
  });
const one = node(1, ip1, 2, ip2);
const two = node(2, ip2, 1, ip1);
two.on(
  'event',
  (e) =>
    e.type === 'established' &&
    console.log(`session: node 2 established with node ${e.partner} as ${e.role}`),
);

await Promise.all([one.start(), two.start()]);
const [s1, s2] = await Promise.all([one.waitForSession(2), two.waitForSession(1)]);
const got = new Promise((resolve) =>
  s2.mirror.on('record', (seq, payload) => resolve({ seq, payload: payload.toString() })),
);
const sequence = await s1.mirror.append(Buffer.from('hello, partner: log record 1'));
const record = await got;
console.log(`mirror: node 2 received record ${record.seq}: "${record.payload}"`);
await Promise.all([one.stop(), two.stop()]);
if (record.seq !== sequence) process.exit(1);
