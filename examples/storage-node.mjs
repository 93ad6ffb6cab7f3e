#!/usr/bin/env node
// A small storage daemon, as a cluster partner would run it: the CCM starts first thing, before the
// "storage stack" is up; the daemon publishes its progress (BOOTING → READY → ACTIVE) through the CCM,
// and once the partner is ACTIVE it mirrors its write log to the partner over the session.
//
//   node examples/storage-node.mjs --node-id 1 --address 10.99.0.1 --partner 2@10.99.0.2:7471
//
// Every event is printed as one JSON line (for the demo's timeline) prefixed with "ccm ".
import { ClusterNode } from 'rdma-ccm/ccm';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const nodeId = Number(opt('node-id', '1'));
const [pid, paddr, pport] = /^(\d+)@(.+):(\d+)$/.exec(opt('partner', '')).slice(1);
const bootMs = Number(opt('boot-ms', '3000'));
const recordsPerSecond = Number(opt('mirror-rate', '200'));
const recordBytes = Number(opt('record-bytes', '512'));
const mirror = args.includes('--mirror');

const out = (kind, obj) => process.stdout.write(`${kind} ${JSON.stringify(obj, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`);

const ccm = new ClusterNode({
  clusterId: BigInt(opt('cluster-id', '4242')),
  nodeId,
  address: opt('address'),
  port: Number(opt('port', '7471')),
  partners: [{ nodeId: Number(pid), address: paddr, port: Number(pport) }],
  secret: opt('secret'),
  heartbeatMs: Number(opt('heartbeat-ms', '100')),
  partnerDownMs: Number(opt('partner-down-ms', '1000')),
});
ccm.on('event', (e) => out('ccm', e));

// 1. The CCM comes first: exposed memory, listening, probing the partner.
await ccm.start();

// 2. The rest of the storage stack boots meanwhile (simulated); the partner can already see us.
setTimeout(() => ccm.setState('READY'), bootMs / 2);
setTimeout(() => ccm.setState('ACTIVE'), bootMs);

// 3. Log mirroring: once a session exists and the partner is ACTIVE, stream records to it.
let sent = 0;
let acked = 0;
let received = 0;
ccm.on('established', () => {
  const session = ccm.session(Number(pid));
  session.mirror.on('record', (seq, payload) => {
    received++;
    if (received % 500 === 0 || received === 1) out('mirror', { node: nodeId, received, sequence: seq, bytes: payload.length });
  });
  if (!mirror) return;
  const tick = setInterval(() => {
    if (session.closed) return clearInterval(tick);
    if (session.partnerState !== 'ACTIVE' || session.mirror.pending > 64) return;
    const n = Math.max(1, Math.round(recordsPerSecond / 20));
    for (let i = 0; i < n; i++) {
      const payload = Buffer.alloc(recordBytes, sent % 256);
      payload.write(`log record ${sent} from node ${nodeId}`);
      sent++;
      session.mirror.append(payload).then(
        (seq) => {
          acked++;
          if (acked % 500 === 0 || acked === 1) out('mirror', { node: nodeId, acked, sequence: seq });
        },
        () => {}, // the session ended; records not acknowledged are re-sent by a real daemon
      );
    }
  }, 50);
});

const stop = () => ccm.stop().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
