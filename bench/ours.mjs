// This package's side of the benchmarks: two RC queue pairs on the lab's devices (rxe0 ↔ rxe1),
// measured the way perftest measures — busy-polling completions (or memory, for WRITE ping-pong) with
// the raw post/poll API, so the event loop is not in the timed path.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { endpoint, pingPong, SPIN_US, WARMUP } from './pingpong.mjs';
import { DEV_A, DEV_B, ADDR_A, ADDR_B } from './lab-env.mjs';

/** Two endpoints on the lab's devices, connected to each other, in this process. */
export function pair(size) {
  const a = endpoint(DEV_A, ADDR_A, size);
  const b = endpoint(DEV_B, ADDR_B, size);
  a.connect(b.info);
  b.connect(a.info);
  return {
    a,
    b,
    close() {
      a.close();
      b.close();
    },
  };
}

function waitCq(cq, n = 1) {
  let got = 0;
  while (got < n) got += cq.pollCount(16, SPIN_US);
  return got;
}

export const median = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];

/**
 * READ latency: one READ at a time, each posted once the previous one completed (like ib_read_lat, the
 * clock is read once per READ, at its post: a READ's latency is the time to the next post), median µs.
 */
export function readLat(size, iters) {
  const p = pair(size);
  const { a, b } = p;
  const stamps = [];
  const read = a.qp.prepareSend([
    {
      wrId: 1n,
      opcode: 'RDMA_READ',
      sgl: [{ mr: a.mr, offset: 0, length: size }],
      remoteAddr: b.mr.addr,
      rkey: b.mr.rkey,
      signaled: true,
    },
  ]);
  for (let i = 0; i <= iters + 10; i++) {
    stamps.push(process.hrtime.bigint());
    if (i === iters + 10) break;
    read.post();
    waitCq(a.sendCq);
  }
  const t = [];
  for (let i = 11; i < stamps.length; i++) t.push(Number(stamps[i] - stamps[i - 1]) / 1000);
  read.release();
  p.close();
  return median(t);
}

/**
 * WRITE or SEND latency: a ping-pong with a partner side in its own process (like ib_write_lat and
 * ib_send_lat, whose server is a process of its own), one-way µs, median.
 */
export async function pingPongLat(op, size, iters) {
  const partner = spawn(
    process.execPath,
    [
      fileURLToPath(new URL('./pingpong-partner.mjs', import.meta.url)),
      op,
      String(size),
      String(iters + WARMUP),
      DEV_B,
      ADDR_B,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: partner.stdout })[Symbol.asyncIterator]();
  const next = async (what) => {
    const l = await lines.next();
    if (l.done) throw new Error(`ping-pong partner ended before ${what}`);
    return l.value;
  };
  const ep = endpoint(DEV_A, ADDR_A, size);
  try {
    const peer = JSON.parse(await next('its endpoint'));
    ep.connect(peer);
    partner.stdin.write(`${JSON.stringify(ep.info)}\n`);
    const run = pingPong(ep, peer, op, size);
    await next('ready');
    const lat = run(iters + WARMUP, true);
    await next('done');
    return median(lat);
  } finally {
    ep.close();
    partner.kill();
  }
}

/** Bandwidth of WRITE or READ with up to `depth` outstanding (like ib_{write,read}_bw), MB/s (10^6). */
export function bandwidth(op, size, iters, depth = 128) {
  const p = pair(size);
  const { a, b } = p;
  const CHAIN = 16;
  const chain = a.qp.prepareSend(
    Array.from({ length: CHAIN }, (_, i) => ({
      wrId: BigInt(i),
      opcode: op === 'read' ? 'RDMA_READ' : 'RDMA_WRITE',
      sgl: [{ mr: a.mr, offset: 0, length: size }],
      remoteAddr: b.mr.addr,
      rkey: b.mr.rkey,
      signaled: i === CHAIN - 1,
    })),
  );
  const chains = Math.ceil(iters / CHAIN);
  let posted = 0;
  let done = 0;
  const t0 = process.hrtime.bigint();
  while (done < chains) {
    while (posted < chains && (posted - done) * CHAIN < depth) {
      chain.post();
      posted++;
    }
    done += a.sendCq.pollCount(16);
  }
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  chain.release();
  p.close();
  const n = chains * CHAIN;
  return { bwMBps: (size * n) / secs / 1e6, mpps: n / secs / 1e6 };
}

/**
 * READ latency through the promise API (`await qp.read()`): the completion reaches JavaScript through
 * the event loop, as it does in the CCM's handshake. A round trip as a CCM step sees it.
 */
export async function readLatAsync(size, iters) {
  const p = pair(size);
  const { a, b } = p;
  const t = [];
  for (let i = 0; i < iters + 10; i++) {
    const t0 = process.hrtime.bigint();
    await a.qp.read({ local: { mr: a.mr, offset: 0, length: size }, remoteAddr: b.mr.addr, rkey: b.mr.rkey });
    if (i >= 10) t.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  p.close();
  return median(t);
}
