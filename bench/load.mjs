// The long-load run, inside the lab (veth topology): node 1 here mirrors log records to node 2 (its own
// process) at full rate for the given time, both heartbeating every 100 ms with a 1 s partner-down
// threshold. Reports throughput, the partner's heartbeat gaps as each side saw them, and every
// partner-down (any is false: nothing failed). Writes JSON.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ClusterNode } from 'rdma-ccm/ccm';
import { ADDR_A, ADDR_B } from './lab-env.mjs';

const out = process.argv[2] ?? '.lab/load.json';
const seconds = Number(process.argv[3] ?? 120);
const RECORD = 4096;
const port = 7990;
const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const common = { heartbeatMs: 100, partnerDownMs: 1000 };

const partnerEvents = [];
const b = spawn(
  process.execPath,
  [
    cli,
    'node',
    '--json',
    '--cluster-id',
    '99',
    '--node-id',
    '2',
    '--address',
    ADDR_B,
    '--port',
    String(port),
    '--partner',
    `1@${ADDR_A}:${port}`,
    '--heartbeat-ms',
    '100',
    '--partner-down-ms',
    '1000',
  ],
  { stdio: ['ignore', 'pipe', 'inherit'] },
);
createInterface({ input: b.stdout }).on('line', (l) => {
  try {
    partnerEvents.push(JSON.parse(l));
  } catch {
    // not an event line
  }
});

const a = new ClusterNode({
  clusterId: 99n,
  nodeId: 1,
  address: ADDR_A,
  port,
  partners: [{ nodeId: 2, address: ADDR_B, port }],
  ...common,
});
const events = [];
a.on('event', (e) => events.push(e));
await a.start();
const t0 = Date.now();
while (!a.session(2)) {
  if (Date.now() - t0 > 120_000) throw new Error('load: no session within 120 s');
  await new Promise((r) => setTimeout(r, 50));
}
process.stderr.write(`load: session up, mirroring ${RECORD}-byte records for ${seconds} s\n`);

const session = a.session(2);
const payload = Buffer.alloc(RECORD, 0x5a);
let acked = 0;
let failed = 0;
const start = performance.now();
const end = start + seconds * 1000;
let lastReport = start;
// Full rate: keep the mirror's window full; each append resolves when the partner holds the record.
async function writer() {
  while (performance.now() < end && !session.closed) {
    try {
      await session.mirror.append(payload);
      acked++;
    } catch {
      failed++;
      return;
    }
    const now = performance.now();
    if (now - lastReport > 10_000) {
      lastReport = now;
      process.stderr.write(
        `load: ${Math.round((now - start) / 1000)} s, ${((acked * RECORD) / 1e6 / ((now - start) / 1000)).toFixed(2)} MB/s\n`,
      );
    }
  }
}
await Promise.all(Array.from({ length: 64 }, writer));
const elapsed = (performance.now() - start) / 1000;
const beats = session.closed ? null : session.heartbeatStats();
const closedDuringRun = events.filter((e) => e.type === 'session-closed').length;
await a.stop();
b.kill('SIGTERM');
await new Promise((r) => setTimeout(r, 500));

const result = {
  seconds: elapsed,
  recordBytes: RECORD,
  recordsAcknowledged: acked,
  appendsFailed: failed,
  MBps: (acked * RECORD) / 1e6 / elapsed,
  partnerHeartbeatsSeenByNode1: beats,
  falsePartnerDown: {
    node1: events.filter((e) => e.type === 'partner-down').length,
    node2: partnerEvents.filter((e) => e.type === 'partner-down').length,
  },
  sessionsClosedDuringRun: closedDuringRun,
};
writeFileSync(out, JSON.stringify(result, null, 2));
process.stderr.write(`load: done\n`);
process.exit(0);
