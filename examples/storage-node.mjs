#!/usr/bin/env node
// A small storage daemon, as a cluster partner would run it: the CCM starts first thing, before the
// "storage stack" is up; the daemon publishes its progress (BOOTING → READY → ACTIVE) through the CCM,
// and once the partner is ACTIVE it mirrors its write log to the partner over the session.
//
//   node examples/storage-node.mjs --node-id 1 --address 10.99.0.1,10.98.0.1 --partner 2@10.99.0.2,10.98.0.2:7471 \
//     [--witness /dev/vda [--witness-timeout-ms MS]] [--fence-cmd CMD] [--takeover] [--giveback-after MS]
//
// With --takeover it takes over a partner declared down once that is safe (fenced, or confirmed by the
// witness): it first replays the partner's log from its own memory (what the partner mirrored to it),
// then takes the resources over, and gives them back --giveback-after ms after the partner's new boot is
// in session. --durability placed|persisted mirrors one-sided (the partner's CPU takes no part); the
// daemon then checkpoints all but its last 256 records, as if it held them on its own disks.
// Every event is printed as one JSON line (for the demo's timeline) prefixed with "ccm ".
import { execFile } from 'node:child_process';
import { ClusterNode } from 'rdma-ccm/ccm';

const run = (cmd) =>
  new Promise((resolve, reject) => execFile('sh', ['-c', cmd], (e) => (e ? reject(e) : resolve())));

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
const list = (v) => (v?.includes(',') ? v.split(',') : v);
const fenceCmd = opt('fence-cmd');
const givebackAfter = opt('giveback-after');

const out = (kind, obj) =>
  process.stdout.write(
    `${kind} ${JSON.stringify(obj, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`,
  );

const ccm = new ClusterNode({
  clusterId: BigInt(opt('cluster-id', '4242')),
  nodeId,
  address: list(opt('address')),
  port: Number(opt('port', '7471')),
  partners: [{ nodeId: Number(pid), address: list(paddr), port: Number(pport) }],
  ...(opt('witness')
    ? {
        witness: {
          path: opt('witness'),
          ...(opt('witness-timeout-ms') ? { timeoutMs: Number(opt('witness-timeout-ms')) } : {}),
        },
      }
    : {}),
  ...(fenceCmd ? { fence: () => run(fenceCmd), fenceDelayMs: 1000 } : {}),
  secret: opt('secret'),
  heartbeatMs: Number(opt('heartbeat-ms', '100')),
  partnerDownMs: Number(opt('partner-down-ms', '1000')),
  durability: opt('durability', 'delivered'),
});
ccm.on('event', (e) => out('ccm', e));

// 1. The CCM comes first: exposed memory, listening, probing the partner.
await ccm.start();

// 2. The rest of the storage stack boots meanwhile (simulated); the partner can already see us.
setTimeout(() => ccm.setState('READY'), bootMs / 2);
// A partner that took over this node's resources while it was down gives them back first; after a stall
// (`stalled`: the process or its witness disk), each partner is heard again first.
const activate = () =>
  ccm.waitingForGiveback.length === 0 &&
  ccm.unheardSinceStall.length === 0 &&
  ccm.state !== 'ACTIVE' &&
  ccm.setState('ACTIVE');
setTimeout(() => {
  activate();
  ccm.on('giveback', activate);
  ccm.on('heard-since-stall', activate);
}, bootMs);

// Failover: a partner declared down whose takeover is safe has its resources taken over here; once its
// new boot is in session again (and READY), they are given back.
if (args.includes('--takeover')) {
  ccm.on('takeover-safe', async (e) => {
    // The partner's log, as it mirrored it here: every record it was told was safe, in order, once.
    let records = 0;
    let acknowledged = 0;
    let first = null;
    let last = null;
    let lastAcknowledged = null;
    let error = null;
    try {
      for await (const r of ccm.mirroredLog(e.partner)) {
        records++;
        first ??= r.sequence;
        last = r.sequence;
        if (r.acknowledged) {
          acknowledged++;
          lastAcknowledged = r.sequence;
        }
      }
    } catch (err) {
      error = `${err.code}: ${err.message}`;
    }
    out('replay', { partner: e.partner, records, acknowledged, first, last, lastAcknowledged, error });
    await ccm.takeover(e.partner).catch((err) => out('error', { message: err.message }));
  });
  ccm.on('established', (e) => {
    if (givebackAfter === undefined || ccm.status().takeover?.partner !== e.partner) return;
    setTimeout(
      () => void ccm.giveback(e.partner).catch((err) => out('error', { message: err.message })),
      Number(givebackAfter),
    );
  });
}

// 3. Log mirroring: once a session exists and the partner is ACTIVE, stream records to it.
let sent = 0;
let acked = 0;
let received = 0;
ccm.on('established', () => {
  const session = ccm.session(Number(pid));
  session.mirror.on('record', (seq, payload) => {
    received++;
    if (received % 250 === 0 || received === 1)
      out('mirror', { node: nodeId, received, sequence: seq, bytes: payload.length, link: session.carrier });
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
          if (ccm.config.durability !== 'delivered' && seq > 256n) session.mirror.checkpoint(seq - 256n);
          if (acked % 250 === 0 || acked === 1)
            out('mirror', { node: nodeId, acked, sequence: seq, link: session.carrier });
        },
        () => {}, // the session ended; records not acknowledged are re-sent by a real daemon
      );
    }
  }, 50);
});

const stop = () => ccm.stop().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
