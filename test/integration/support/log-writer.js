// A storage daemon's log writer in its own process, for tests that kill it: node 2 of a two-node
// cluster, mirroring records to node 1 as fast as the session takes them, with the durability given.
// Record i (from 0) says `record i`; while no append is rejected its sequence is i + 1. It checkpoints the records
// it "holds on its own storage" (all but the last `keep` acknowledged), so the partner's ring wraps.
// Prints {"fence": "flush" | "read"} once the session is up, then one JSON line per batch of
// resolutions: {"acked": highest sequence resolved, "checkpointed": N, "fences": the mirror's counts}.
//   node log-writer.js ADDR PARTNER_ADDR PORT CLUSTER DURABILITY BYTES [KEEP]
const { resolve } = require('node:path');
const { ClusterNode } = require(resolve(__dirname, '..', '..', '..', 'dist', 'ccm', 'index.js'));

const [address, partnerAddress, port, cluster, durability, bytes, keep = '200'] = process.argv.slice(2);
const node = new ClusterNode({
  clusterId: BigInt(cluster),
  nodeId: 2,
  address,
  port: Number(port),
  partners: [{ nodeId: 1, address: partnerAddress, port: Number(port) + 100 }],
  heartbeatMs: 100,
  partnerDownMs: 3000,
  durability,
});
const out = (x) =>
  process.stdout.write(`${JSON.stringify(x, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);
node.on('event', (e) => e.type === 'established' && out({ established: e.partner }));

node.start().then(async () => {
  // Each new session (the partner restarted) takes over the appending: the stream goes on in it.
  let session = await node.waitForSession(1);
  node.on('event', (e) => {
    if (e.type !== 'established') return;
    session = node.session(1);
    pump();
  });
  out({ fence: session.mirror.fence });
  let i = 0;
  let acked = 0n;
  let reported = 0n;
  let checkpointed = 0n;
  setInterval(() => {
    if (acked === reported) return;
    reported = acked;
    const hold = acked - BigInt(keep);
    if (hold > checkpointed) session.mirror.checkpoint((checkpointed = hold));
    out({ acked, checkpointed, fences: session.mirror.fences });
  }, 5);
  // A rejected append (its session failed) is not written again: the writer goes on with the next record.
  const pump = () => {
    while (session && !session.closed && session.mirror.pending < 256) {
      const payload = Buffer.alloc(Number(bytes), 0x2e);
      payload.write(`record ${i++}`);
      session.mirror.append(payload).then(
        (seq) => {
          if (seq > acked) acked = seq;
          setImmediate(pump);
        },
        () => {},
      );
    }
  };
  pump();
});
