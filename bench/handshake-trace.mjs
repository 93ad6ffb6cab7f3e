// Where a handshake's time goes, inside the lab: node 1 here probes node 2 (bench/repeat-partner.mjs, its own
// process) every 100 ms; node 2 starts its CCM RUNS times (default 6) in the same process, so the first
// handshake meets a cold partner and the later ones a warm one. Prints both nodes' events of each run,
// in ms from node 2's `listening`. Run: rdma-ccm lab -- node bench/handshake-trace.mjs
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { ClusterNode } from 'rdma-ccm/ccm';
import { ADDR_A, ADDR_B } from './lab-env.mjs';

const now = () => performance.timeOrigin + performance.now();
const b = spawn(process.execPath, ['bench/repeat-partner.mjs'], { stdio: ['pipe', 'pipe', 'inherit'] });
const waiters = [];
const bEvents = [];
createInterface({ input: b.stdout }).on('line', (l) => {
  const e = JSON.parse(l);
  bEvents.push(e);
  for (const w of [...waiters])
    if (w.pred(e)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(e);
    }
});
const fromB = (pred) => new Promise((resolve) => waiters.push({ pred, resolve }));
await fromB((e) => e.type === 'loaded');
for (let i = 0; i < Number(process.env.RUNS ?? 6); i++) {
  const port = 7960 + i;
  const a = new ClusterNode({
    clusterId: 9n,
    nodeId: 1,
    address: ADDR_A,
    port,
    partners: [{ nodeId: 2, address: ADDR_B, port }],
    backoff: { minMs: 100, maxMs: 100, jitter: 0 },
  });
  const trace = [];
  a.on('event', (e) => trace.push({ ...e, at: now(), side: 1 }));
  const established = new Promise((r) => a.once('established', () => r(now())));
  await a.start();
  await new Promise((r) => setTimeout(r, 300));
  const from = bEvents.length;
  b.stdin.write(`start ${port}\n`);
  const ready = (await fromB((e) => e.type === 'listening')).at;
  const at = await established;
  b.stdin.write('stop\n');
  await fromB((e) => e.type === 'halted');
  await a.stop();
  const all = [
    ...trace,
    ...bEvents
      .slice(from)
      .filter((e) => e.at)
      .map((e) => ({ ...e, side: 2 })),
  ].sort((x, y) => x.at - y.at);
  console.log(
    `run ${i} (partner ${i === 0 ? 'cold' : 'warm'}): listening → established ${(at - ready).toFixed(1)} ms`,
  );
  for (const e of all.filter((x) => x.at <= at + 20))
    console.log(
      `  ${(e.at - ready).toFixed(1).padStart(8)}  node ${e.side} ${e.type} ${e.role ?? ''} ${e.step ?? ''} ${e.code ?? ''}`,
    );
}
b.stdin.write('exit\n');
await new Promise((r) => b.once('exit', r));
process.exit(0);
