// `npm run bench`: set up and build like `npm test`, run bench/suite.mjs in the lab (perftest and this
// package on the same two rxe devices in the same run), then print one table, write the summary as JSON
// (bench/results.json, in git) with every raw sample beside it (bench/results/DATE.json, not in git), and
// draw the summary as SVG charts (docs/bench-*.svg). `npm run bench -- charts` redraws the table and the
// charts from the recorded summary, without a lab run.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup } from './setup.mjs';
import { buildNative, buildTs } from './build.mjs';
import { log, root, sh } from './lib.mjs';
import { lineChart } from '../bench/chart.mjs';
import { runInstructionBench } from './bench-instructions.mjs';

const summaryFile = join(root, 'bench', 'results.json');
// `npm run bench -- handshake detection` runs only those sections and keeps the others' recorded figures;
// `instructions` is the instruction count in a one-vCPU guest (scripts/bench-instructions.mjs), apart.
const only = process.argv.slice(2).join(',');
const redraw = only === 'charts';

/** The record without its raw samples (each run of a median, each handshake with its trace): what git keeps. */
const summary = (record) =>
  JSON.parse(
    JSON.stringify(record, (key, v) => (/^(runs|cachedRuns|table)$|Runs(Us|Ms)$/.test(key) ? undefined : v)),
  );

if (!redraw) {
  setup();
  buildTs();
}
const { Progress } = await import('../dist/progress.js');
const progress = new Progress({ title: 'bench', total: redraw ? 1 : 3 });
const recorded = existsSync(summaryFile) ? JSON.parse(readFileSync(summaryFile, 'utf8')) : {};
let r = recorded;
if (!redraw) {
  progress.next('native addon');
  buildNative();
  progress.next('benchmarks in the lab (perftest and rdma-ccm, section by section)');
  mkdirSync(join(root, '.lab'), { recursive: true });
  const raw = join(root, '.lab', 'bench.json');
  if (only === 'instructions') {
    const ok = runInstructionBench();
    progress.done();
    process.exit(ok ? 0 : 1);
  }
  const envPrefix = only ? `RDMA_CCM_BENCH_ONLY=${only} ` : '';
  const status = sh(
    process.execPath,
    ['dist/cli.js', 'lab', '--timeout', '3600', '--', `${envPrefix}node bench/suite.mjs ${raw}`],
    { allowFail: true },
  );
  if (status !== 0 || !existsSync(raw)) {
    progress.done();
    log(`bench: the run in the lab failed (exit ${status})`);
    process.exit(1);
  }
  const fresh = JSON.parse(readFileSync(raw, 'utf8'));
  const sectionKeys = {
    latency: 'latency',
    bandwidth: 'bandwidth',
    msgrate: 'msgRate',
    handshake: 'handshake',
    detection: 'detection',
    failover: 'failover',
    witness: 'witness',
    durability: 'durability',
  };
  r = {
    date: new Date().toISOString(),
    ...(only ? { sectionsRerun: only, firstDate: recorded.firstDate ?? recorded.date } : {}),
    ...fresh,
  };
  if (only)
    for (const [name, key] of Object.entries(sectionKeys))
      if (!only.split(',').includes(name) && recorded[key] !== undefined) r[key] = recorded[key];
  // Every sample of this run, handshake traces included, stays on this machine; git keeps the summary.
  mkdirSync(join(root, 'bench', 'results'), { recursive: true });
  writeFileSync(
    join(root, 'bench', 'results', `${r.date.replace(/:/g, '-')}.json`),
    JSON.stringify(r, null, 2),
  );
  writeFileSync(summaryFile, `${JSON.stringify(summary(r), null, 2)}\n`);
}
progress.next('results and charts');
const fmt = (x, d = 2) => (x === null || x === undefined ? 'n/a' : x >= 100 ? x.toFixed(0) : x.toFixed(d));
const ratio = (x) => (x === null || x === undefined ? 'n/a' : `${fmt(x)}x`);
const size = (n) => (n >= 1 << 20 ? `${n >> 20} MiB` : n >= 1024 ? `${n >> 10} KiB` : `${n} B`);
const rows = [['figure', 'size', 'perftest', 'rdma-ccm', 'ratio']];
for (const l of r.latency)
  rows.push([`${l.op} latency (µs)`, size(l.size), fmt(l.perftestUs), fmt(l.oursUs), ratio(l.ratio)]);
for (const b of r.bandwidth)
  rows.push([`${b.op} bandwidth (MB/s)`, size(b.size), fmt(b.perftestMBps), fmt(b.oursMBps), ratio(b.ratio)]);
for (const m of r.msgRate)
  rows.push([
    `${m.op} message rate (Mpps)`,
    size(m.size),
    fmt(m.perftestMpps, 3),
    fmt(m.oursMpps, 3),
    ratio(m.ratio),
  ]);
if (r.handshake) {
  const h = r.handshake;
  rows.push(['bare RDMA CM connect (ms), one warm process', '-', '-', fmt(h.bareConnectMs), '-']);
  if (h.bareConnectLateMs !== undefined)
    rows.push(['bare RDMA CM connect (ms), partner just started', '-', '-', fmt(h.bareConnectLateMs), '-']);
  if (h.targetMs !== undefined) {
    rows.push(['awaited RDMA READ round trip (ms)', '2 B', '-', fmt(h.rttAsyncUs / 1000), '-']);
    rows.push([
      `CCM handshake: connect + 4 steps (ms)`,
      '-',
      '-',
      fmt(h.ccmHandshakeMs),
      `${fmt(h.ccmHandshakeMs / (h.targetMs - h.probeMs))}x connect + 4 RTT`,
    ]);
    rows.push([
      `CCM partner ready → established (ms), probe ${h.probeMs} ms`,
      '-',
      '-',
      fmt(h.ccmFromReadyMs),
      `${fmt(h.ccmFromReadyMs / h.targetMs)}x probe + connect + 4 RTT`,
    ]);
    if (h.targetWarmMs !== undefined)
      rows.push([
        `  the same against a warm connect`,
        '-',
        '-',
        fmt(h.ccmFromReadyMs),
        `${fmt(h.ccmFromReadyMs / h.targetWarmMs)}x probe + connect + 4 RTT`,
      ]);
    if (h.targetCachedMs !== undefined) {
      rows.push([
        'bare RDMA CM connect (ms), partner just started, code cached',
        '-',
        '-',
        fmt(h.bareConnectLateCachedMs),
        '-',
      ]);
      rows.push([
        `CCM partner ready → established (ms), code cached`,
        '-',
        '-',
        fmt(h.ccmFromReadyCachedMs),
        `${fmt(h.ccmFromReadyCachedMs / h.targetCachedMs)}x probe + connect + 4 RTT`,
      ]);
      rows.push([
        `  the same against a warm connect`,
        '-',
        '-',
        fmt(h.ccmFromReadyCachedMs),
        `${fmt(h.ccmFromReadyCachedMs / h.targetWarmMs)}x probe + connect + 4 RTT`,
      ]);
    }
  } else
    rows.push([
      `CCM ready → established (ms), probe ${h.probeMs} ms`,
      '-',
      '-',
      fmt(h.ccmFromReadyMs),
      `${fmt(h.ccmFromReadyMs / h.bareConnectMs)}x connect`,
    ]);
}
if (r.detection)
  rows.push([
    `partner-down detection (ms) after the cut, threshold ${r.detection.thresholdMs} ms`,
    '-',
    '-',
    String(r.detection.detectedAfterMs),
    `${fmt(r.detection.detectedAfterMs / r.detection.thresholdMs)}x threshold`,
  ]);
if (r.failover) {
  const f = r.failover;
  rows.push([
    `link-down after the carrier cut is ordered (ms; the cut took ${f.cutTookMs}), link threshold ${f.linkDownMs} ms`,
    '-',
    '-',
    String(f.linkDownAfterMs),
    `${fmt(f.linkDownAfterMs / f.linkDownMs)}x threshold`,
  ]);
  rows.push([
    `link failover: longest pause in acks (ms), ${f.records} records${f.deliveredOnceInOrder ? ' once, in order' : ' NOT ALL ONCE'}, ${f.partnerDowns} partner-downs`,
    '512 B',
    '-',
    String(f.ackStallMs),
    `${fmt(f.ackStallMs / f.heartbeatMs)}x heartbeat`,
  ]);
}
if (r.witness)
  rows.push([
    `partner-down with the witness after a kill (ms), witness timeout ${r.witness.timeoutMs} ms`,
    '-',
    '-',
    String(r.witness.detectedAfterMs),
    `${fmt(r.witness.detectedAfterMs / r.witness.timeoutMs)}x timeout`,
  ]);
if (r.durability) {
  for (const t of r.durability.throughput)
    rows.push([
      `${t.durability} append throughput (MB/s) vs ib_write_bw`,
      size(t.size),
      fmt(t.perftestMBps),
      fmt(t.oursMBps),
      ratio(t.ratio),
    ]);
  if (r.durability.awaitedReadUs)
    rows.push([
      'RDMA READ awaited through the event loop (µs), the floor of an append',
      '512 B',
      '-',
      fmt(r.durability.awaitedReadUs),
      '-',
    ]);
  for (const l of r.durability.latency) {
    rows.push([
      `${l.durability} append latency p50 (µs) vs ib_write_lat + ib_read_lat`,
      size(l.size),
      fmt(l.targetP50Us),
      fmt(l.p50Us),
      `${ratio(l.ratioP50)}${l.ratioAwaitedRead ? `, ${fmt(l.ratioAwaitedRead)}x awaited READ` : ''}`,
    ]);
    rows.push([
      `${l.durability} append latency p99 (µs) vs ib_write_lat + ib_read_lat`,
      size(l.size),
      fmt(l.targetP99Us),
      fmt(l.p99Us),
      ratio(l.ratioP99),
    ]);
  }
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((x) => x[i].length)));
const table = rows
  .map(
    (x, j) =>
      `| ${x.map((c, i) => c.padEnd(widths[i])).join(' | ')} |${j === 0 ? `\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|` : ''}`,
  )
  .join('\n');
process.stdout.write(`\n${table}\n`);
writeFileSync(join(root, 'bench', 'results.md'), `${table}\n`);
const series = (items, key, name) => ({
  name,
  dashed: name === 'perftest',
  points: items.filter((x) => x[key] !== null).map((x) => [x.size, x[key]]),
});
mkdirSync(join(root, 'docs'), { recursive: true });
const ops = [...new Set(r.latency.map((l) => l.op))];
writeFileSync(
  join(root, 'docs', 'bench-latency.svg'),
  lineChart({
    title: 'Latency on rxe (lower is better)',
    yLabel: 'µs',
    series: ops.flatMap((op) => {
      const xs = r.latency.filter((l) => l.op === op);
      return [
        series(xs, 'oursUs', `${op} rdma-ccm`),
        { ...series(xs, 'perftestUs', 'perftest'), name: `${op} perftest`, dashed: true },
      ];
    }),
  }),
);
const bops = [...new Set(r.bandwidth.map((b) => b.op))];
writeFileSync(
  join(root, 'docs', 'bench-bandwidth.svg'),
  lineChart({
    title: 'Bandwidth on rxe (higher is better)',
    yLabel: 'MB/s',
    series: bops.flatMap((op) => {
      const xs = r.bandwidth.filter((b) => b.op === op);
      return [
        series(xs, 'oursMBps', `${op} rdma-ccm`),
        { ...series(xs, 'perftestMBps', 'perftest'), name: `${op} perftest`, dashed: true },
      ];
    }),
  }),
);
if (r.durability) {
  const DURABILITY_COLORS = ['#1f77b4', '#2ca02c', '#9467bd'];
  const levels = [...new Set(r.durability.throughput.map((t) => t.durability))];
  const wbw = r.durability.throughput.filter((t) => t.durability === levels[0]);
  writeFileSync(
    join(root, 'docs', 'bench-durability.svg'),
    lineChart({
      title: 'Mirrored append throughput on rxe, by durability (higher is better)',
      yLabel: 'MB/s',
      series: [
        ...levels.map((d, i) => ({
          ...series(
            r.durability.throughput.filter((t) => t.durability === d),
            'oursMBps',
            `${d} rdma-ccm`,
          ),
          color: DURABILITY_COLORS[i],
        })),
        { ...series(wbw, 'perftestMBps', 'perftest'), name: 'ib_write_bw', dashed: true, color: '#d62728' },
      ],
    }),
  );
}
progress.done();
process.stdout.write(
  `\nresults: bench/results.json (summary), bench/results.md${redraw ? '' : ', bench/results/ (raw samples)'}; charts: docs/bench-latency.svg, docs/bench-bandwidth.svg, docs/bench-durability.svg\n`,
);
