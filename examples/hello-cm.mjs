#!/usr/bin/env node
// CM "hello": a listener on the first lab address, a connection to it from the second, and one SEND
// from the client into a receive the server posted. librdmacm resolves the route, makes the queue pairs
// and moves them to RTS; the connection request and its answer carry private data.
//
//   npx rdma-ccm lab -- node examples/hello-cm.mjs
//
// On a host with rxe devices of its own: RDMA_CCM_LAB_ADDRS=10.99.0.1,10.99.0.2 node examples/hello-cm.mjs
import { Access } from 'rdma-ccm/verbs';
import { connect, contextFor, listen } from 'rdma-ccm/cm';

const [serverIp, clientIp] = (process.env.RDMA_CCM_LAB_ADDRS ?? '10.99.0.1,10.99.0.2').split(',');
const port = Number(process.env.HELLO_PORT ?? 7470);

// A protection domain and a registered buffer on the device behind each address.
const serverPd = (await contextFor(serverIp)).allocPd();
const clientPd = (await contextFor(clientIp)).allocPd();
const inbox = serverPd.allocMemory(4096, Access.LOCAL_WRITE);
const outbox = clientPd.allocMemory(4096, Access.LOCAL_WRITE);

const listener = await listen({ address: serverIp, port });
const server = (async () => {
  for await (const req of listener) {
    // The receive is posted before the connection is established, so the client's first SEND finds it.
    let received;
    const conn = await req.accept({
      pd: serverPd,
      privateData: Buffer.from('welcome'),
      prepare: (qp) => (received = qp.recv({ local: { mr: inbox, offset: 0, length: 4096 } })),
    });
    return { conn, received, hello: req.privateData.subarray(0, 5).toString() };
  }
})();

const client = await connect({
  address: serverIp,
  port,
  sourceAddress: clientIp,
  pd: clientPd,
  privateData: Buffer.from('hello'),
  timeoutMs: 10_000,
});
const { conn, received, hello } = await server;
const message = Buffer.from(`hello over RDMA CM from ${clientIp}`);
message.copy(outbox.buffer);
await client.qp.send({ local: { mr: outbox, offset: 0, length: message.length } });
const wc = await received;
const got = inbox.buffer.toString('utf8', 0, wc.byteLen);

console.log(
  `connect: ${clientIp} → ${serverIp}:${port}, private data "${hello}" / "${client.privateData.subarray(0, 7)}"`,
);
client.close();
conn.close();
listener.close();
[inbox, outbox, serverPd, clientPd].forEach((o) => o.close());
if (got !== message.toString()) {
  console.error(`hello-cm: received ${JSON.stringify(got)}`);
  process.exit(1);
}
console.log(`send/recv: ${serverIp} received "${got}"`);
