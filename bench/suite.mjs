// The benchmark run, inside the lab (veth topology: rxe0 ↔ rxe1): for each figure, rdma-core's perftest
// and this package on the same two devices, one after the other in the same run. Writes JSON.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { connect, contextFor, listen } from 'rdma-ccm/cm';
import { ClusterNode } from 'rdma-ccm/ccm';
import { bandwidth, readLat, sendLat, writeLat } from './ours.mjs';
import { perftest } from './perftest.mjs';

const out = process.argv[2] ?? '.lab/bench.json';
const quick = process.env.RDMA_CCM_BENCH_QUICK === '1';
const LAT_SIZES = quick ? [2, 4096] : [2, 64, 1024, 4096, 65536];
const BW_SIZES = quick ? [65536] : [4096, 65536, 1048576];
const LAT_ITERS = quick ? 200 : 1000;
const BW_ITERS = (size) => (quick ? 200 : Math.max(200, Math.min(5000, Math.floor((256 << 20) / size))));

/** A perftest run that fails (it sometimes cannot connect under TCG) is reported, not fatal. */
async function measured(run) {
  try {
    return await run();
  } catch (e) {
    process.stderr.write(`bench: perftest failed: ${e.message.split('\n')[0]}\n`);
    return null;
  }
}

const results = { latency: [], bandwidth: [], msgRate: [], handshake: null, detection: null };
const steps = LAT_SIZES.length * 3 + BW_SIZES.length * 2 + 3;
let step = 0;
const progress = (what) => process.stderr.write(`bench: [${++step}/${steps}] ${what}\n`);

for (const [op, tool, fn] of [['READ', 'ib_read_lat', readLat], ['WRITE', 'ib_write_lat', writeLat], ['SEND', 'ib_send_lat', sendLat]]) {
  for (const size of LAT_SIZES) {
    progress(`${op} latency, ${size} B`);
    const pt = await measured(() => perftest(tool, size, { iters: LAT_ITERS }));
    const ours = fn(size, LAT_ITERS);
    results.latency.push({ op, size, perftestUs: pt?.typicalUs ?? null, oursUs: ours, ratio: pt ? ours / pt.typicalUs : null });
  }
}

for (const [op, tool] of [['WRITE', 'ib_write_bw'], ['READ', 'ib_read_bw']]) {
  for (const size of BW_SIZES) {
    progress(`${op} bandwidth, ${size} B`);
    const iters = BW_ITERS(size);
    const pt = await measured(() => perftest(tool, size, { iters }));
    const ours = bandwidth(op.toLowerCase(), size, iters);
    results.bandwidth.push({ op, size, perftestMBps: pt?.bwMBps ?? null, oursMBps: ours.bwMBps, ratio: pt ? ours.bwMBps / pt.bwMBps : null });
  }
}

progress('message rate, 64 B WRITE');
{
  const iters = quick ? 2000 : 20000;
  const pt = await measured(() => perftest('ib_write_bw', 64, { iters }));
  const ours = bandwidth('write', 64, iters);
  results.msgRate.push({ op: 'WRITE', size: 64, perftestMpps: pt?.mpps ?? null, oursMpps: ours.mpps, ratio: pt ? ours.mpps / pt.mpps : null });
}

progress('CCM handshake vs a bare RDMA CM connect');
{
  // Bare CM connect + accept, measured from connect() to ESTABLISHED on the initiator.
  const ca = await contextFor('10.99.0.1');
  const cb = await contextFor('10.99.0.2');
  const pa = ca.allocPd();
  const pb = cb.allocPd();
  const bare = [];
  for (let i = 0; i < 5; i++) {
    const l = await listen({ address: '10.99.0.1', port: 7900 + i });
    const acc = (async () => {
      for await (const r of l) return r.accept({ pd: pa });
    })();
    const t0 = performance.now();
    const c = await connect({ address: '10.99.0.1', port: 7900 + i, sourceAddress: '10.99.0.2', pd: pb });
    bare.push(performance.now() - t0);
    (await acc).close();
    c.close();
    l.close();
  }
  pa.close();
  pb.close();
  // CCM: A probes (backoff capped at probeMs); B becomes ready; time from B listening to A established.
  const probeMs = 100;
  const runs = [];
  for (let i = 0; i < 5; i++) {
    const mk = (id) => new ClusterNode({ clusterId: 9n, nodeId: id, address: `10.99.0.${id}`, port: 7950 + i, partners: [{ nodeId: 3 - id, address: `10.99.0.${3 - id}`, port: 7950 + i }], backoff: { minMs: probeMs, maxMs: probeMs, jitter: 0 } });
    const a = mk(1);
    const b = mk(2);
    await a.start();
    await new Promise((r) => setTimeout(r, 300));
    let ready = 0;
    b.once('listening', () => (ready = performance.now()));
    const est = new Promise((r) => a.once('established', (e) => r(e)));
    await b.start();
    const e = await est;
    runs.push({ fromReadyMs: performance.now() - ready, handshakeMs: e.handshakeMs });
    await a.stop();
    await b.stop();
  }
  const med = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  results.handshake = { probeMs, bareConnectMs: med(bare), ccmFromReadyMs: med(runs.map((r) => r.fromReadyMs)), ccmHandshakeMs: med(runs.map((r) => r.handshakeMs)) };
}

progress('heartbeat failure detection');
{
  const thresholdMs = 500;
  const mk = (id) => new ClusterNode({ clusterId: 9n, nodeId: id, address: `10.99.0.${id}`, port: 7990, partners: [{ nodeId: 3 - id, address: `10.99.0.${3 - id}`, port: 7990 }], heartbeatMs: 50, partnerDownMs: thresholdMs });
  const a = mk(1);
  const b = mk(2);
  await Promise.all([a.start(), b.start()]);
  await a.waitForSession(2);
  await new Promise((r) => setTimeout(r, 500));
  const down = new Promise((r) => a.once('partner-down', (e) => r(e)));
  const t0 = performance.now();
  for (const dev of ['veth0', 'veth1']) execFileSync('tc', ['qdisc', 'replace', 'dev', dev, 'root', 'netem', 'loss', '100%']);
  const e = await down;
  const wall = performance.now() - t0;
  for (const dev of ['veth0', 'veth1']) execFileSync('tc', ['qdisc', 'del', 'dev', dev, 'root']);
  results.detection = { thresholdMs, heartbeatMs: 50, detectedAfterMs: Math.round(wall), reason: e.reason };
  await a.stop();
  await b.stop();
}

writeFileSync(out, JSON.stringify(results, null, 2));
process.stderr.write(`bench: results in ${out}\n`);
