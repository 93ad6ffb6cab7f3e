// rdma-core's perftest on the lab's two devices (rxe0 serves, rxe1 runs the client, RDMA CM for the
// connection): one run per size, parsed into numbers. Runs inside the lab.
import { spawn } from 'node:child_process';
import { DEV_A, DEV_B, ADDR_A } from './lab-env.mjs';

const SERVER_DEV = DEV_A;
const CLIENT_DEV = DEV_B;

function run(cmd, args, timeoutMs) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, out });
    });
  });
}

/**
 * One perftest measurement: `tool` is ib_{read,write,send}_{lat,bw}. Latency tools report t_typical
 * (median, µs); bandwidth tools report BW average (MB/s) and message rate (Mpps).
 */
export async function perftest(tool, size, { iters = 1000, server = ADDR_A, port = 18515 + Math.floor(Math.random() * 1000) } = {}) {
  const common = ['-R', '-s', String(size), '-n', String(iters), '-p', String(port), '-F'];
  const srv = run(tool, ['-d', SERVER_DEV, ...common], 90_000);
  await new Promise((r) => setTimeout(r, 1500));
  let cli;
  for (let i = 0; i < 5; i++) {
    cli = await run(tool, ['-d', CLIENT_DEV, ...common, server], 60_000);
    if (cli.code === 0) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const s = await srv;
  if (cli.code !== 0) throw new Error(`${tool} -s ${size} failed:\n${cli.out}\n${s.out}`);
  const lines = cli.out.split('\n').map((l) => l.trim().split(/\s+/));
  const row = lines.find((f) => f[0] === String(size) && f.length >= 4 && /^\d/.test(f[1] ?? ''));
  if (!row) throw new Error(`${tool}: no result row in:\n${cli.out}`);
  if (tool.endsWith('_lat')) {
    // #bytes #iterations t_min t_max t_typical t_avg t_stdev 99% 99.9%
    return { typicalUs: Number(row[4]), avgUs: Number(row[5]), minUs: Number(row[2]) };
  }
  // #bytes #iterations BW_peak[MB/sec] BW_average[MB/sec] MsgRate[Mpps]
  return { bwMBps: Number(row[3]), mpps: Number(row[4]) };
}
