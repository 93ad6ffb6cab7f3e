// The benchmark run, inside the lab (veth topology: rxe0 ↔ rxe1): for each figure, rdma-core's perftest
// and this package on the same two devices, one after the other in the same run. Writes JSON.
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect, contextFor, listen } from 'rdma-ccm/cm';
import { ClusterNode } from 'rdma-ccm/ccm';
import { deviceSetup } from 'rdma-ccm/lab';
import { bandwidth, median, pingPongLat, readLat, readLatAsync } from './ours.mjs';
import { perftest } from './perftest.mjs';
import { ADDR_A, ADDR_B } from './lab-env.mjs';

/**
 * Node `id` (1 or 2) of a two-node cluster on the lab's devices, its partner the other one: `addresses`
 * holds each node's addresses, one per link (default: device A's and device B's).
 */
function clusterNode(id, { clusterId, port, addresses = [[ADDR_A], [ADDR_B]], ...options }) {
  const at = (n) => (addresses[n - 1].length === 1 ? addresses[n - 1][0] : addresses[n - 1]);
  return new ClusterNode({
    clusterId,
    nodeId: id,
    address: at(id),
    port,
    partners: [{ nodeId: 3 - id, address: at(3 - id), port }],
    ...options,
  });
}

const out = process.argv[2] ?? '.lab/bench.json';
const quick = process.env.RDMA_CCM_BENCH_QUICK === '1';
/** RDMA_CCM_BENCH_ONLY=handshake,detection runs only those sections (latency, bandwidth, msgrate, handshake, detection, failover, witness, durability). */
const only = process.env.RDMA_CCM_BENCH_ONLY ? new Set(process.env.RDMA_CCM_BENCH_ONLY.split(',')) : null;
const section = (name) => !only || only.has(name);
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
const DURABILITY_SIZES = quick ? [4096] : [512, 4096, 65536];
const steps =
  (section('latency') ? LAT_SIZES.length * 3 : 0) +
  (section('bandwidth') ? BW_SIZES.length * 2 : 0) +
  ['msgrate', 'handshake', 'detection', 'failover', 'witness'].filter(section).length +
  (section('durability') ? DURABILITY_SIZES.length + 1 : 0);
let step = 0;
const progress = (what) => process.stderr.write(`bench: [${++step}/${steps}] ${what}\n`);

// Latency under TCG swings by up to 2x between consecutive runs of the same tool, so each figure is the
// median of LAT_ROUNDS runs of each side, interleaved (the order flips every round), after a warm-up run.
const LAT_ROUNDS = quick ? 1 : Number(process.env.RDMA_CCM_BENCH_ROUNDS ?? 5);
for (const [op, tool, fn] of section('latency')
  ? [
      ['READ', 'ib_read_lat', readLat],
      ['WRITE', 'ib_write_lat', (s, n) => pingPongLat('WRITE', s, n)],
      ['SEND', 'ib_send_lat', (s, n) => pingPongLat('SEND', s, n)],
    ]
  : []) {
  await fn(LAT_SIZES[0], LAT_ITERS);
  for (const size of LAT_SIZES) {
    progress(`${op} latency, ${size} B (${LAT_ROUNDS} rounds)`);
    const pt = [];
    const ours = [];
    const runPerftest = async () => {
      const r = await measured(() => perftest(tool, size, { iters: LAT_ITERS }));
      if (r) pt.push(r.typicalUs);
    };
    const runOurs = async () => ours.push(await fn(size, LAT_ITERS));
    for (let round = 0; round < LAT_ROUNDS; round++) {
      if (round % 2 === 0) {
        await runPerftest();
        await runOurs();
      } else {
        await runOurs();
        await runPerftest();
      }
    }
    const perftestUs = pt.length ? median(pt) : null;
    const oursUs = median(ours);
    results.latency.push({
      op,
      size,
      perftestUs,
      oursUs,
      ratio: perftestUs ? oursUs / perftestUs : null,
      perftestRunsUs: pt,
      oursRunsUs: ours,
    });
  }
}

for (const [op, tool] of section('bandwidth')
  ? [
      ['WRITE', 'ib_write_bw'],
      ['READ', 'ib_read_bw'],
    ]
  : []) {
  for (const size of BW_SIZES) {
    progress(`${op} bandwidth, ${size} B`);
    const iters = BW_ITERS(size);
    const pt = await measured(() => perftest(tool, size, { iters }));
    const ours = bandwidth(op.toLowerCase(), size, iters);
    results.bandwidth.push({
      op,
      size,
      perftestMBps: pt?.bwMBps ?? null,
      oursMBps: ours.bwMBps,
      ratio: pt ? ours.bwMBps / pt.bwMBps : null,
    });
  }
}

if (section('msgrate')) {
  progress('message rate, 64 B WRITE');
  const iters = quick ? 2000 : 20000;
  const pt = await measured(() => perftest('ib_write_bw', 64, { iters }));
  const ours = bandwidth('write', 64, iters);
  results.msgRate.push({
    op: 'WRITE',
    size: 64,
    perftestMpps: pt?.mpps ?? null,
    oursMpps: ours.mpps,
    ratio: pt ? ours.mpps / pt.mpps : null,
  });
}

if (section('handshake')) {
  progress('CCM handshake vs a bare RDMA CM connect');
  // Bare CM connect + accept, measured from connect() to ESTABLISHED on the initiator.
  const ca = await contextFor(ADDR_A);
  const cb = await contextFor(ADDR_B);
  const pa = ca.allocPd();
  const pb = cb.allocPd();
  const bare = [];
  for (let i = 0; i < 9; i++) {
    const l = await listen({ address: ADDR_A, port: 7900 + i });
    const acc = (async () => {
      for await (const r of l) return r.accept({ pd: pa });
    })();
    const t0 = performance.now();
    const c = await connect({ address: ADDR_A, port: 7900 + i, sourceAddress: ADDR_B, pd: pb });
    bare.push(performance.now() - t0);
    (await acc).close();
    c.close();
    l.close();
  }
  // The same connect to a partner process that has just started listening (its first accept runs cold),
  // from the connect() call to ESTABLISHED; with `cache`, the partner's package code comes from a code
  // cache that an earlier partner process saved (lib/code-cache.ts), as on a node's second boot.
  const partnerEnv = (cache) => (cache ? { ...process.env, RDMA_CCM_CODE_CACHE: cache } : process.env);
  const bareLateRuns = async (cache) => {
    const env = partnerEnv(cache);
    const times = [];
    for (let i = cache ? -1 : 0; i < 9; i++) {
      const port = 7920 + i + (cache ? 10 : 0);
      const b = spawn(process.execPath, ['bench/bare-partner.mjs', String(port)], {
        stdio: ['pipe', 'pipe', 'inherit'],
        env,
      });
      const lines = createInterface({ input: b.stdout });
      const next = (type) =>
        new Promise((resolve) =>
          lines.on('line', function on(l) {
            if (JSON.parse(l).type !== type) return;
            lines.off('line', on);
            resolve();
          }),
        );
      await next('loaded');
      const listening = next('listening');
      b.stdin.write('start\n');
      await listening;
      const t0 = performance.now();
      const c = await connect({ address: ADDR_B, port, sourceAddress: ADDR_A, pd: pa });
      // The run at -1 only fills the cache.
      if (i >= 0) times.push(performance.now() - t0);
      const exited = new Promise((r) => b.once('exit', r));
      b.stdin.write('stop\n');
      await exited;
      c.close();
    }
    return times;
  };
  const cacheRoot = mkdtempSync(join(tmpdir(), 'rdma-ccm-bench-cache-'));
  const bareLate = await bareLateRuns(null);
  const bareLateCached = await bareLateRuns(join(cacheRoot, 'bare'));
  pa.close();
  pb.close();
  // One round trip: a small RDMA READ, busy-polled (the wire) and awaited (as a CCM step sees it).
  const rttUs = readLat(2, 300);
  const rttAsyncUs = await readLatAsync(2, 300);
  // CCM: A runs and probes B (backoff fixed at probeMs). B starts later in its own process, as a partner
  // would; time from B's `listening` to A's `established`, split into the wait until the
  // attempt that succeeds began and the handshake itself (CM connect + the four steps).
  const probeMs = 100;
  const ccmRuns = async (cache) => {
    const env = partnerEnv(cache);
    const runs = [];
    for (let i = cache ? -1 : 0; i < 15; i++) {
      const port = 7950 + i + (cache ? 20 : 0);
      const a = clusterNode(1, {
        clusterId: 9n,
        port,
        backoff: { minMs: probeMs, maxMs: probeMs, jitter: 0 },
      });
      const steps = [];
      const trace = [];
      const now = () => performance.timeOrigin + performance.now();
      a.on('event', (e) => {
        trace.push([now(), e.node, e.type, e.role ?? '', e.step ?? '', e.code ?? '']);
        if (e.type === 'step' && e.role === 'initiator') steps.push([e.step, now()]);
      });
      const est = new Promise((r) => a.once('established', (e) => r({ e, at: now(), upTo: steps.slice() })));
      await a.start();
      await new Promise((r) => setTimeout(r, 300));
      const b = spawn(process.execPath, ['bench/late-partner.mjs', String(port), String(probeMs)], {
        stdio: ['pipe', 'pipe', 'inherit'],
        env,
      });
      let ready = 0;
      const loaded = new Promise((resolve) => {
        createInterface({ input: b.stdout }).on('line', (line) => {
          const ev = JSON.parse(line);
          if (ev.type === 'loaded') return resolve();
          trace.push([ev.at, ev.node, ev.type, ev.role ?? '', ev.step ?? '', ev.code ?? '']);
          if (ev.type === 'listening') ready = ev.at;
        });
      });
      await loaded;
      b.stdin.write('start\n');
      const { e, at, upTo } = await est;
      const exited = new Promise((r) => b.once('close', r));
      b.stdin.write('stop\n');
      await exited;
      await a.stop();
      const mine =
        e.role === 'initiator'
          ? upTo.slice(upTo.map((s) => s[0]).lastIndexOf('connect')).concat([['established', at]])
          : [];
      const stepMs = Object.fromEntries(mine.slice(0, -1).map(([name, t], j) => [name, mine[j + 1][1] - t]));
      trace.sort((x, y) => x[0] - y[0]);
      // The run at -1 only fills the cache.
      if (i >= 0)
        runs.push({
          role: e.role,
          fromReadyMs: at - ready,
          probeWaitMs: mine.length ? mine[0][1] - ready : null,
          handshakeMs: mine.length ? at - mine[0][1] : null,
          stepMs,
          trace: trace.map(([t, ...rest]) => `${(t - ready).toFixed(1)} ${rest.join(' ')}`.trim()),
        });
    }
    return runs;
  };
  const runs = await ccmRuns(null);
  const cachedRuns = await ccmRuns(join(cacheRoot, 'ccm'));
  rmSync(cacheRoot, { recursive: true, force: true });
  const asInitiator = runs.filter((r) => r.role === 'initiator');
  const stepNames = ['connect', 'read-status', 'write-hello', 'read-echo', 'write-commit'];
  const bareConnectMs = median(bare);
  const bareConnectLateMs = median(bareLate);
  const bareConnectLateCachedMs = median(bareLateCached);
  const cachedFromReadyMs = cachedRuns.map((r) => r.fromReadyMs);
  results.handshake = {
    probeMs,
    rttUs,
    rttAsyncUs,
    bareConnectMs,
    bareConnectLateMs,
    bareConnectLateRunsMs: bareLate,
    bareConnectLateCachedMs,
    bareConnectLateCachedRunsMs: bareLateCached,
    ccmFromReadyMs: median(runs.map((r) => r.fromReadyMs)),
    ccmFromReadyMaxMs: Math.max(...runs.map((r) => r.fromReadyMs)),
    // The same with the partner's code from a code cache saved by an earlier partner process.
    ccmFromReadyCachedMs: median(cachedFromReadyMs),
    ccmFromReadyCachedMaxMs: Math.max(...cachedFromReadyMs),
    ccmFromReadyCachedRunsMs: cachedFromReadyMs,
    // The attempts where A (probing) made the session; in the others B's own first connect did.
    probeWaitMs: asInitiator.length ? median(asInitiator.map((r) => r.probeWaitMs)) : null,
    ccmHandshakeMs: asInitiator.length ? median(asInitiator.map((r) => r.handshakeMs)) : null,
    stepMs: asInitiator.length
      ? Object.fromEntries(stepNames.map((n) => [n, median(asInitiator.map((r) => r.stepMs[n] ?? 0))]))
      : null,
    // The bound: one probe interval, then a CM connect and four round trips as a step sees them; the
    // connect as to a partner that has just started listening, and (stricter) as within one warm process.
    targetMs: probeMs + bareConnectLateMs + (4 * rttAsyncUs) / 1000,
    targetWarmMs: probeMs + bareConnectMs + (4 * rttAsyncUs) / 1000,
    targetCachedMs: probeMs + bareConnectLateCachedMs + (4 * rttAsyncUs) / 1000,
    runs,
    cachedRuns,
  };
}

if (section('detection')) {
  progress('heartbeat failure detection');
  const thresholdMs = 500;
  const mk = (id) =>
    clusterNode(id, { clusterId: 9n, port: 7990, heartbeatMs: 50, partnerDownMs: thresholdMs });
  const a = mk(1);
  const b = mk(2);
  await Promise.all([a.start(), b.start()]);
  await a.waitForSession(2);
  await new Promise((r) => setTimeout(r, 500));
  const down = new Promise((r) => a.once('partner-down', (e) => r(e)));
  // The link is cut by a shell started beforehand: spawning it (or running tc synchronously) now would
  // stall the very event loop that watches the heartbeats, and a node takes its own stall as no evidence
  // against its partner. Detection counts from when both tc commands have returned (the cut in place).
  const cutter = spawn(
    'sh',
    [
      '-c',
      'read go; tc qdisc replace dev veth0 root netem loss 100% & tc qdisc replace dev veth1 root netem loss 100% & wait; echo cut',
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const cut = new Promise((r) =>
    createInterface({ input: cutter.stdout }).once('line', () => r(performance.now())),
  );
  await new Promise((r) => setTimeout(r, 500));
  const t0 = performance.now();
  cutter.stdin.write('go\n');
  const cutAt = await cut;
  const e = await down;
  const detectedAt = performance.now();
  for (const dev of ['veth0', 'veth1']) execFileSync('tc', ['qdisc', 'del', 'dev', dev, 'root']);
  results.detection = {
    thresholdMs,
    heartbeatMs: 50,
    detectedAfterMs: Math.round(detectedAt - cutAt),
    cutTookMs: Math.round(cutAt - t0),
    silenceMs: e.detectionMs,
    reason: e.reason,
  };
  await a.stop();
  await b.stop();
}

// A second veth pair with its own rxe devices (10.97.0.1 ↔ 10.97.0.2): link 1 beside the lab's link 0.
let secondLink = null;
function linkOne() {
  if (secondLink) return secondLink;
  const nodes = [0, 1].map((i) => ({
    name: `f${i}`,
    device: `rxef${i}`,
    netdev: `f${i}`,
    ip: `10.97.0.${i + 1}`,
    ip6: `fd97::${i + 1}`,
  }));
  execFileSync('bash', ['-ec', deviceSetup(nodes, true, 2)], { stdio: 'inherit' });
  secondLink = nodes;
  return nodes;
}

/** A shell, started now, that cuts `devs` (netem 100% loss) when told: spawning it at the moment of the cut would stall the event loop that watches the heartbeats. */
function cutterFor(devs) {
  const cutter = spawn(
    'sh',
    [
      '-c',
      `read go; ${devs.map((d) => `tc qdisc replace dev ${d} root netem loss 100% &`).join(' ')} wait; echo cut`,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const cut = new Promise((r) =>
    createInterface({ input: cutter.stdout }).once('line', () => r(performance.now())),
  );
  return {
    go: () => cutter.stdin.write('go\n'),
    cut,
    restore: () => devs.forEach((d) => execFileSync('tc', ['qdisc', 'del', 'dev', d, 'root'])),
  };
}

if (section('failover')) {
  progress('link failover under full-rate mirroring');
  const l1 = linkOne();
  const heartbeatMs = 50;
  const linkDownMs = 500;
  const mk = (id) =>
    clusterNode(id, {
      clusterId: 10n,
      port: 7991,
      addresses: [
        [ADDR_A, l1[0].ip],
        [ADDR_B, l1[1].ip],
      ],
      heartbeatMs,
      partnerDownMs: 2000,
      linkDownMs,
    });
  const a = mk(1);
  const b = mk(2);
  const bothUp = new Promise((r) => a.on('link-up', (e) => e.linksUp === 2 && r()));
  await Promise.all([a.start(), b.start()]);
  const s = await a.waitForSession(2);
  await bothUp;
  const got = [];
  let partnerDowns = 0;
  a.on('partner-down', () => partnerDowns++);
  (await b.waitForSession(1)).mirror.on('record', (seq) => got.push(seq));
  const carrier = s.carrier;
  const acks = [];
  let stop = false;
  const pumps = Array.from({ length: 32 }, async () => {
    while (!stop) acks.push({ seq: await s.mirror.append(Buffer.alloc(512, 7)), at: performance.now() });
  });
  await new Promise((r) => setTimeout(r, 1500));
  const cutter = cutterFor(carrier === 0 ? ['veth0', 'veth1'] : l1.map((n) => n.netdev));
  await new Promise((r) => setTimeout(r, 300));
  const linkDown = new Promise((r) => a.once('link-down', (e) => r({ e, at: performance.now() })));
  const t0 = performance.now();
  cutter.go();
  const cutAt = await cutter.cut;
  const down = await linkDown;
  await new Promise((r) => setTimeout(r, 1500));
  stop = true;
  await Promise.all(pumps);
  // The failover is the longest pause in acknowledgements from the moment the cut was ordered.
  const after = acks.filter((x) => x.at >= t0);
  let stallMs = 0;
  for (let i = 1; i < after.length; i++) stallMs = Math.max(stallMs, after[i].at - after[i - 1].at);
  cutter.restore();
  await new Promise((r) => setTimeout(r, 500));
  const seqs = acks.map((x) => x.seq).sort((x, y) => (x < y ? -1 : 1));
  const once = got.length >= seqs.length && seqs.every((q, i) => got[i] === q);
  results.failover = {
    heartbeatMs,
    linkDownMs,
    linkDownAfterMs: Math.round(down.at - t0),
    cutTookMs: Math.round(cutAt - t0),
    ackStallMs: Math.round(stallMs),
    records: seqs.length,
    deliveredOnceInOrder: once,
    partnerDowns,
    reason: down.e.reason,
  };
  await a.stop();
  await b.stop();
}

if (section('witness')) {
  progress('partner-down detection with a witness disk');
  const l1 = linkOne();
  const dir = mkdtempSync(join(tmpdir(), 'bench-witness-'));
  const path = join(dir, 'witness.img');
  writeFileSync(path, Buffer.alloc(8192));
  const witness = { path, intervalMs: 100, timeoutMs: 1000 };
  const a = clusterNode(1, {
    clusterId: 11n,
    port: 7992,
    addresses: [
      [ADDR_A, l1[0].ip],
      [ADDR_B, l1[1].ip],
    ],
    heartbeatMs: 50,
    partnerDownMs: 500,
    witness,
  });
  await a.start();
  const b = spawn(
    process.execPath,
    [
      'dist/cli.js',
      'node',
      '--json',
      '--no-control',
      '--cluster-id',
      '11',
      '--node-id',
      '2',
      '--address',
      ADDR_B,
      '--address',
      l1[1].ip,
      '--port',
      '7992',
      '--partner',
      `1@${ADDR_A},${l1[0].ip}:7992`,
      '--heartbeat-ms',
      '50',
      '--partner-down-ms',
      '500',
      '--witness',
      path,
      '--witness-interval-ms',
      '100',
      '--witness-timeout-ms',
      '1000',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  await a.waitForSession(2);
  for (
    const end = Date.now() + 20_000;
    a.status().partners[0].witness?.verdict !== 'alive' && Date.now() < end;

  )
    await new Promise((r) => setTimeout(r, 50));
  const down = new Promise((r) => a.once('partner-down', (e) => r({ e, at: performance.now() })));
  const killedAt = performance.now();
  b.kill('SIGKILL');
  const d = await down;
  results.witness = {
    ...witness,
    path: undefined,
    partnerDownMs: 500,
    detectedAfterMs: Math.round(d.at - killedAt),
    verdict: d.e.witness,
  };
  await a.stop();
  rmSync(dir, { recursive: true, force: true });
}

if (section('durability')) {
  // Two CCM nodes on the two devices; node 2's log region is a file on tmpfs declared persistent, so
  // node 1 may append at every level. Each placed or persisted record is checkpointed once it resolves
  // (the writer holds it on its own storage), so the ring keeps room.
  const dir = mkdtempSync(join('/dev/shm', 'bench-nvram-'));
  const mk = (id, extra) =>
    clusterNode(id, {
      clusterId: 12n,
      port: 7993,
      heartbeatMs: 100,
      partnerDownMs: 5000,
      logRingBytes: 8 << 20,
      ...extra,
    });
  const a = mk(1, {});
  const b = mk(2, { nvram: { path: join(dir, 'nvram'), persistent: true } });
  await Promise.all([a.start(), b.start()]);
  const s = await a.waitForSession(2);
  (await b.waitForSession(1)).mirror.on('record', () => {});
  const LEVELS = ['delivered', 'placed', 'persisted'];
  const append = async (payload, durability) => {
    const seq = await s.mirror.append(payload, { durability });
    if (durability !== 'delivered') s.mirror.checkpoint(seq);
    return seq;
  };
  results.durability = { throughput: [], latency: [] };
  for (const size of DURABILITY_SIZES) {
    progress(`mirrored append throughput, ${size} B, three levels against ib_write_bw`);
    const iters = BW_ITERS(size);
    const pt = await measured(() => perftest('ib_write_bw', size, { iters }));
    const payload = Buffer.alloc(size, 7);
    for (const durability of LEVELS) {
      for (let i = 0; i < 50; i++) await append(payload, durability); // warm-up
      const t0 = performance.now();
      let sent = 0;
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (sent < iters) {
            sent++;
            await append(payload, durability);
          }
        }),
      );
      const mbps = (iters * size) / ((performance.now() - t0) * 1000);
      results.durability.throughput.push({
        durability,
        size,
        perftestMBps: pt?.bwMBps ?? null,
        oursMBps: mbps,
        ratio: pt ? mbps / pt.bwMBps : null,
      });
    }
  }
  progress('mirrored append latency, 512 B, three levels against ib_write_lat + ib_read_lat');
  const [w, r] = [
    await measured(() => perftest('ib_write_lat', 512, { iters: LAT_ITERS })),
    await measured(() => perftest('ib_read_lat', 512, { iters: LAT_ITERS })),
  ];
  // The floor of any append that resolves through the event loop: one READ awaited there, as the fence is.
  const awaitedReadUs = await readLatAsync(512, LAT_ITERS);
  results.durability.awaitedReadUs = awaitedReadUs;
  const payload = Buffer.alloc(512, 7);
  for (const durability of LEVELS) {
    for (let i = 0; i < 50; i++) await append(payload, durability);
    const us = [];
    for (let i = 0; i < LAT_ITERS; i++) {
      const t0 = performance.now();
      await append(payload, durability);
      us.push((performance.now() - t0) * 1000);
    }
    us.sort((x, y) => x - y);
    const p50 = us[Math.floor(us.length / 2)];
    const p99 = us[Math.floor(us.length * 0.99)];
    // ib_write_lat reports half a round trip (a ping-pong); a fenced WRITE waits for a full one, as ib_read_lat's READ does.
    const target = w && r ? { p50: w.typicalUs + r.typicalUs, p99: w.p99Us + r.p99Us } : null;
    results.durability.latency.push({
      durability,
      size: 512,
      p50Us: p50,
      p99Us: p99,
      writeLat: w,
      readLat: r,
      targetP50Us: target?.p50 ?? null,
      targetP99Us: target?.p99 ?? null,
      ratioP50: target ? p50 / target.p50 : null,
      ratioP99: target ? p99 / target.p99 : null,
      awaitedReadUs,
      ratioAwaitedRead: p50 / awaitedReadUs,
    });
  }
  await a.stop();
  await b.stop();
  rmSync(dir, { recursive: true, force: true });
}

writeFileSync(out, JSON.stringify(results, null, 2));
process.stderr.write(`bench: results in ${out}\n`);
