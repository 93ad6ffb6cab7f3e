// `npm run load [-- SECONDS]`: set up and build like `npm test`, then run bench/load.mjs in the lab: full-rate
// log mirroring between two CCM nodes with heartbeats. Prints throughput, heartbeat gaps and the count of
// false partner-down events (the run fails unless it is zero); writes bench/load.json.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup } from './setup.mjs';
import { buildNative, buildTs } from './build.mjs';
import { log, root, sh } from './lib.mjs';

const seconds = Number(process.argv[2] ?? 300);
setup();
buildNative();
buildTs();
const raw = join(root, '.lab', 'load.json');
const status = sh(
  process.execPath,
  ['dist/cli.js', 'lab', '--timeout', String(seconds + 900), '--', `node bench/load.mjs ${raw} ${seconds}`],
  { allowFail: true },
);
if (status !== 0 || !existsSync(raw)) {
  log(`load: the run in the lab failed (exit ${status})`);
  process.exit(1);
}
const r = JSON.parse(readFileSync(raw, 'utf8'));
writeFileSync(
  join(root, 'bench', 'load.json'),
  JSON.stringify({ date: new Date().toISOString(), ...r }, null, 2),
);
const hb = r.partnerHeartbeatsSeenByNode1;
const falseDowns = r.falsePartnerDown.node1 + r.falsePartnerDown.node2;
process.stdout.write(
  `\nload: ${r.seconds.toFixed(0)} s of full-rate mirroring, ${r.recordsAcknowledged} records of ${r.recordBytes} B acknowledged (${r.MBps.toFixed(2)} MB/s)\n` +
    (hb
      ? `heartbeats (every 100 ms): ${hb.count} seen, gap mean ${hb.meanGapMs.toFixed(1)} ms, p99 ${hb.p99GapMs.toFixed(1)} ms, max ${hb.maxGapMs.toFixed(1)} ms\n`
      : 'heartbeats: the session did not last\n') +
    `false partner-down events: ${falseDowns}\n`,
);
process.exit(falseDowns === 0 && hb && r.appendsFailed === 0 ? 0 : 1);
