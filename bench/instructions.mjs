// Instructions per operation, counted by the lab's TCG plugin (bench/instructions/counter.c) on one
// vCPU: this package and perftest on the same two rxe devices, in the same guest. Runs inside
// `rdma-ccm lab --tcg-plugin counter.so,out=FILE`; writes the windows it opened, in order, as JSON to
// argv[2]; the host pairs them with the plugin's counts (scripts/bench.mjs).
//
// Each figure is a difference of two windows, of N1 and N2 operations, divided by N2 - N1: what a
// window costs once (the marker calls, a process's start and exit, a connection) cancels out. Each
// window is run three times: what disturbs a count (a garbage collection, a timer interrupt) only ever
// adds instructions, so the host takes the smallest of each. Node runs with --single-threaded (no V8
// background thread works during a window) and the guest's clock follows its instruction count (the
// lab's -icount with a TCG plugin), so that the same windows count the same instructions run after run.
import { spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { instructionMarker } from 'rdma-ccm/lab';
import { Context, Desc, descriptors, Opcode, SendFlags } from 'rdma-ccm/verbs';
import { ClusterNode } from 'rdma-ccm/ccm';
import { pair } from './ours.mjs';
import { RX, SPIN_US } from './pingpong.mjs';
import { ADDR_A, ADDR_B, DEV_A, DEV_B } from './lab-env.mjs';

const out = process.argv[2];
const windows = [];
const N1 = 1000;
const N2 = 6000;
// A mirrored append is some hundred thousand instructions: fewer of them.
const A1 = 500;
const A2 = 2500;
// perftest's window holds two processes' start, connection and exit (millions of instructions, varying
// from run to run): its loop runs long enough to dwarf that.
const P1 = 20_000;
const P2 = 100_000;
const REPS = [1, 2, 3];

/**
 * Runs `fn(n)` (synchronous or async) between the markers and records what the window was. The await
 * costs the same in every window, so it cancels out of the difference.
 */
async function window(label, n, fn) {
  instructionMarker(true);
  await fn(n);
  instructionMarker(false);
  opened({ ...label, n });
}

/** Records a window the plugin counted; the file is kept whole after each, so that a run cut short keeps what it measured. */
function opened(w) {
  windows.push(w);
  writeFileSync(out, JSON.stringify(windows));
}

/** The RoCE v2 GID index of an IPv4 address on a device (perftest's -x). */
function gidIndex(device, address) {
  const ctx = new Context(device);
  try {
    return ctx.findGid(address).index;
  } finally {
    ctx.close();
  }
}

function waitOne(cq) {
  while (cq.pollCount(1, SPIN_US) === 0);
}

/** Receives posted at a time for SEND, so that posting them costs each SEND a share. */
const RECV_BATCH = 100;

/** Posts a prepared request and waits for its completion on `cq`: one call into the addon. */
function postWait(prepared, cq) {
  if (prepared.postAndPoll(cq, SPIN_US) === 0) waitOne(cq);
}

/**
 * READ, WRITE or SEND one at a time with a prepared work request, each posted once the previous one
 * completed (postAndPoll(): one call into the addon per operation; `READ (post, then pollCount)` is the
 * same with two). A SEND counts its receiver too (as perftest's ib_send_lat does): the receive
 * completion polled, and the receives posted again a batch at a time.
 */
async function oursLoop(op, size) {
  const p = pair(size);
  const { a, b } = p;
  const opcode = {
    READ: 'RDMA_READ',
    'READ (post, then pollCount)': 'RDMA_READ',
    WRITE: 'RDMA_WRITE',
    SEND: 'SEND',
  }[op];
  const remote = op === 'SEND' ? {} : { remoteAddr: b.mr.addr, rkey: b.mr.rkey };
  const prepared = a.qp.prepareSend([
    { wrId: 1n, opcode, sgl: [{ mr: a.mr, offset: 0, length: size }], ...remote, signaled: true },
  ]);
  const recvs = Array.from({ length: RECV_BATCH }, (_, i) => ({
    wrId: BigInt(i),
    sgl: [{ mr: b.mr, offset: RX, length: size }],
  }));
  let posted = 0;
  const run =
    op === 'SEND'
      ? (n) => {
          for (let i = 0; i < n; i++) {
            if (posted === 0) {
              b.qp.postRecv(recvs);
              posted = RECV_BATCH;
            }
            postWait(prepared, a.sendCq);
            waitOne(b.recvCq);
            posted--;
          }
        }
      : op === 'READ (post, then pollCount)'
        ? (n) => {
            for (let i = 0; i < n; i++) {
              prepared.post();
              waitOne(a.sendCq);
            }
          }
        : (n) => {
            for (let i = 0; i < n; i++) postWait(prepared, a.sendCq);
          };
  run(5000); // compiled before it is counted
  for (const rep of REPS) for (const n of [N1, N2]) await window({ side: 'ours', op, size, rep }, n, run);
  prepared.release();
  p.close();
}

/**
 * One mirrored append awaited at a time: node 1 to node 2, both in this process, over the lab's two
 * devices; it resolves once node 2 holds the record. Heartbeats are far apart, so that a window holds
 * almost none.
 */
async function mirroredAppend(size) {
  const port = 7995;
  const node = (id) =>
    new ClusterNode({
      clusterId: 17n,
      nodeId: id,
      address: [ADDR_A, ADDR_B][id - 1],
      port,
      partners: [{ nodeId: 3 - id, address: [ADDR_A, ADDR_B][2 - id], port }],
      heartbeatMs: 5000,
      partnerDownMs: 60_000,
    });
  const [one, two] = [node(1), node(2)];
  await Promise.all([one.start(), two.start()]);
  for (const t0 = Date.now(); !one.session(2) || !two.session(1); await new Promise((r) => setTimeout(r, 50)))
    if (Date.now() - t0 > 120_000) throw new Error('instructions: no session within 120 s');
  const mirror = one.session(2).mirror;
  const payload = Buffer.alloc(size, 0x5a);
  const run = async (n) => {
    for (let i = 0; i < n; i++) await mirror.append(payload);
  };
  await run(2000);
  for (const rep of REPS)
    for (const n of [A1, A2]) await window({ side: 'ours', op: 'mirrored append', size, rep }, n, run);
  await Promise.all([one.stop(), two.stop()]);
}

/**
 * Mirrored appends at full rate, as `npm run bench -- durability` makes them: 64 in flight, each
 * `placed` one checkpointed once it resolves. Set beside perftest's WRITE of the same payload, the
 * kernel's share shows what rxe costs the mirror per record before any of this package's code.
 */
async function streamedAppends(size) {
  const port = 7996;
  const node = (id) =>
    new ClusterNode({
      clusterId: 18n,
      nodeId: id,
      address: [ADDR_A, ADDR_B][id - 1],
      port,
      partners: [{ nodeId: 3 - id, address: [ADDR_A, ADDR_B][2 - id], port }],
      heartbeatMs: 5000,
      partnerDownMs: 60_000,
      logRingBytes: 8 << 20,
    });
  const [one, two] = [node(1), node(2)];
  await Promise.all([one.start(), two.start()]);
  for (const t0 = Date.now(); !one.session(2) || !two.session(1); await new Promise((r) => setTimeout(r, 50)))
    if (Date.now() - t0 > 120_000) throw new Error('instructions: no session within 120 s');
  two.session(1).mirror.on('record', () => {});
  const mirror = one.session(2).mirror;
  const payload = Buffer.alloc(size, 0x5a);
  // A `placed` append awaited alone pays its fence and its checkpoint's sync by itself.
  const placedAlone = async (n) => {
    for (let i = 0; i < n; i++) mirror.checkpoint(await mirror.append(payload, { durability: 'placed' }));
  };
  await placedAlone(1000);
  for (const rep of REPS)
    for (const n of [A1, A2])
      await window({ side: 'ours', op: 'placed append, awaited one at a time', size, rep }, n, placedAlone);
  for (const durability of ['placed', 'delivered']) {
    const run = async (n) => {
      let sent = 0;
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (sent < n) {
            sent++;
            const seq = await mirror.append(payload, { durability });
            if (durability !== 'delivered') mirror.checkpoint(seq);
          }
        }),
      );
    };
    await run(1000);
    for (const rep of REPS)
      for (const n of [A1, A2])
        await window({ side: 'ours', op: `${durability} append, 64 in flight`, size, rep }, n, run);
  }
  await Promise.all([one.stop(), two.stop()]);
}

/** The promise API: `await qp.read()` one at a time. */
async function oursAwaitRead(size) {
  const p = pair(size);
  const { a, b } = p;
  const o = { local: { mr: a.mr, offset: 0, length: size }, remoteAddr: b.mr.addr, rkey: b.mr.rkey };
  const run = async (n) => {
    for (let i = 0; i < n; i++) await a.qp.read(o);
  };
  await run(5000);
  for (const rep of REPS)
    for (const n of [N1, N2]) await window({ side: 'ours', op: 'await qp.read()', size, rep }, n, run);
  p.close();
}

/** READs through the fast path: 64 descriptors posted in one call, their completions polled into the ring. */
async function oursFastBatch(size) {
  const p = pair(size);
  const { a, b } = p;
  const BATCH = 64;
  const d = descriptors(BATCH);
  for (let i = 0; i < BATCH; i++) {
    const at = i * Desc.STRIDE;
    d.set([i, 0, Opcode.RDMA_READ, SendFlags.SIGNALED, a.mr.id, 0, 0, size], at);
    d[at + Desc.REMOTE] = Number(b.mr.addr & 0xffffffffn);
    d[at + Desc.REMOTE_HIGH] = Number(b.mr.addr >> 32n);
    d[at + Desc.RKEY] = b.mr.rkey;
  }
  const run = (n) => {
    for (let done = 0; done < n; done += BATCH) {
      a.qp.postFast(d, BATCH);
      for (let got = 0; got < BATCH; ) got += a.sendCq.pollRing(BATCH, SPIN_US);
    }
  };
  run(5120);
  const op = 'READ, fast path, batches of 64';
  for (const rep of REPS)
    for (const n of [N1 * 1.024, N2 * 1.024]) await window({ side: 'ours', op, size, rep }, n, run);
  p.close();
}

/**
 * perftest's client in the window (its server started before it), one operation at a time as this
 * package's loop does it: ib_read_lat for READ; ib_write_bw and ib_send_bw with one request in flight
 * (-t 1), each signaled (-Q 1), no per-request time stamps (-N). perftest's WRITE and SEND latency tools
 * ping-pong between two processes that each spin until the other answers, which on one vCPU counts the
 * scheduler's time slices; here the WRITE server sleeps in its socket, and the SEND server waits for
 * completion events (-e) instead of spinning, so that its receives are counted and its waiting is not.
 * They exchange their QP numbers over TCP (not -R): with RDMA CM, perftest's sides wait for each other's
 * messages by busy-polling a CQ, and on one vCPU the waiting server's spin would be counted as work.
 */
const PERFTEST = {
  READ: { tool: 'ib_read_lat', both: ['-C'], server: [] },
  WRITE: { tool: 'ib_write_bw', both: ['-t', '1', '-Q', '1', '-N'], server: [] },
  SEND: { tool: 'ib_send_bw', both: ['-t', '1', '-Q', '1', '-N'], server: ['-e'] },
};

async function perftest(op, size) {
  // READ's -C: latencies in cycles, so that ib_read_lat does not calibrate its clock (a timed busy loop).
  const { tool, both, server: serverOnly } = PERFTEST[op];
  const [xa, xb] = [gidIndex(DEV_A, ADDR_A), gidIndex(DEV_B, ADDR_B)];
  for (const [rep, n] of REPS.flatMap((r) => [
    [r, P1],
    [r, P2],
  ])) {
    const port = String(18515 + windows.length);
    const common = ['-s', String(size), '-n', String(n), '-p', port, '-F', ...both];
    for (let attempt = 1; ; attempt++) {
      const server = spawn(tool, ['-d', DEV_A, '-x', String(xa), ...common, ...serverOnly], {
        stdio: 'ignore',
      });
      await new Promise((r) => setTimeout(r, 1500 * attempt));
      instructionMarker(true);
      const client = spawnSync(tool, ['-d', DEV_B, '-x', String(xb), ...common, ADDR_A], {
        stdio: 'ignore',
        timeout: 600_000,
      });
      instructionMarker(false);
      if (client.status !== 0) server.kill('SIGKILL');
      const done = await new Promise((r) =>
        server.exitCode !== null ? r(server.exitCode) : server.once('exit', r),
      );
      if (client.status === 0 && done === 0) {
        opened({ side: 'perftest', op, size, rep, n });
        break;
      }
      // A failed run (the client came before the server listened) is a window nobody reads.
      opened({ side: 'void', op, size, rep, n });
      if (attempt === 5) throw new Error(`${tool} -s ${size} -n ${n} failed 5 times`);
    }
  }
}

/**
 * Where a prepared READ's user instructions go: the parts of its loop alone, with no RDMA work (each
 * is on a QP and CQ that are idle): one N-API call that does nothing but read an accessor, a poll of
 * an empty CQ through the addon directly and through lib/verbs, and the marker call itself.
 */
async function breakdown() {
  const p = pair(2);
  const { a } = p;
  const parts = {
    'N-API accessor (qp.native.closed)': (n) => {
      for (let i = 0; i < n; i++) if (a.qp.native.closed) throw new Error('closed');
    },
    'addon pollCount(1, 0), empty CQ': (n) => {
      for (let i = 0; i < n; i++) if (a.sendCq.native.pollCount(1, 0) !== 0) throw new Error('not empty');
    },
    'cq.pollCount(1, 0), empty CQ': (n) => {
      for (let i = 0; i < n; i++) if (a.sendCq.pollCount(1, 0) !== 0) throw new Error('not empty');
    },
  };
  for (const [op, run] of Object.entries(parts)) {
    run(5000);
    for (const rep of REPS)
      for (const n of [N1, N2]) await window({ side: 'ours', op, size: 0, rep }, n, run);
  }
  p.close();
}

/**
 * What a Node daemon pays to mirror a record over a plain TCP socket instead: an echo of `size` bytes
 * between two sockets of this process over loopback (both ends counted), awaited one at a time and 64
 * in flight. The peer rows the mirror's are set against.
 */
async function tcpEcho(size) {
  const { createServer, connect } = await import('node:net');
  const server = createServer((s) => {
    s.setNoDelay(true);
    s.on('data', (d) => s.write(d));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const c = connect(server.address().port, '127.0.0.1');
  c.setNoDelay(true);
  await new Promise((r) => c.once('connect', r));
  let got = 0;
  c.on('data', (d) => (got += d.length));
  const payload = Buffer.alloc(size, 0x5a);
  // Resolves once `n` echoes of this window came back, keeping up to `depth` in flight.
  const echoes = (n, depth) =>
    new Promise((resolve) => {
      const base = got;
      let sent = 0;
      const pump = () => {
        const done = Math.floor((got - base) / size);
        while (sent < n && sent - done < depth) {
          c.write(payload);
          sent++;
        }
        if (done < n) return;
        c.off('data', pump);
        resolve();
      };
      c.on('data', pump);
      pump();
    });
  for (const [op, depth] of [
    ['Node TCP echo, awaited one at a time', 1],
    ['Node TCP echo, 64 in flight', 64],
  ]) {
    await echoes(2000, depth);
    for (const rep of REPS)
      for (const n of [N1, N2]) await window({ side: 'node', op, size, rep }, n, (k) => echoes(k, depth));
  }
  c.destroy();
  await new Promise((r) => server.close(r));
}

const only = process.env.RDMA_CCM_INSTR_ONLY;
if (!only || only === 'breakdown') await breakdown();
if (!only)
  for (const size of [2, 4096]) {
    for (const op of ['READ', 'READ (post, then pollCount)', 'WRITE', 'SEND']) {
      await oursLoop(op, size);
      if (op in PERFTEST) await perftest(op, size);
    }
    await oursAwaitRead(size);
    await oursFastBatch(size);
    await mirroredAppend(size);
  }
if (only === 'verbs')
  for (const size of [2, 4096]) {
    await oursAwaitRead(size);
    await oursFastBatch(size);
  }
// `appends`: every row of the mirror (the awaited delivered append is in the full run's loop above).
if (only === 'appends') await mirroredAppend(4096);
if (!only || only === 'appends') {
  await streamedAppends(4096);
  await tcpEcho(4096);
}
writeFileSync(out, JSON.stringify(windows));
