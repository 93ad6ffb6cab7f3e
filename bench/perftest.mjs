// rdma-core's perftest on the lab's two devices (rxe0 serves, rxe1 runs the client, RDMA CM for the
// connection): one run per size, parsed into numbers. Runs inside the lab.
import { runCommand } from 'rdma-ccm/lab';
import { DEV_A, DEV_B, ADDR_A } from './lab-env.mjs';

const SERVER_DEV = DEV_A;
const CLIENT_DEV = DEV_B;

/**
 * One perftest measurement: `tool` is ib_{read,write,send}_{lat,bw}. Latency tools report t_typical
 * (median, µs); bandwidth tools report BW average (MB/s) and message rate (Mpps).
 */
export async function perftest(
  tool,
  size,
  { iters = 1000, server = ADDR_A, port = 18515 + Math.floor(Math.random() * 1000) } = {},
) {
  const common = ['-R', '-s', String(size), '-n', String(iters), '-p', String(port), '-F'];
  const srv = runCommand(tool, ['-d', SERVER_DEV, ...common], { timeoutMs: 90_000 });
  await new Promise((r) => setTimeout(r, 1500));
  let cli;
  for (let i = 0; i < 5; i++) {
    cli = await runCommand(tool, ['-d', CLIENT_DEV, ...common, server], { timeoutMs: 60_000 });
    if (cli.status === 0) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const s = await srv;
  if (cli.status !== 0) throw new Error(`${tool} -s ${size} failed:\n${cli.output}\n${s.output}`);
  const lines = cli.output.split('\n').map((l) => l.trim().split(/\s+/));
  const row = lines.find((f) => f[0] === String(size) && f.length >= 4 && /^\d/.test(f[1] ?? ''));
  if (!row) throw new Error(`${tool}: no result row in:\n${cli.output}`);
  if (tool.endsWith('_lat')) {
    // #bytes #iterations t_min t_max t_typical t_avg t_stdev 99% 99.9%
    return { typicalUs: Number(row[4]), avgUs: Number(row[5]), minUs: Number(row[2]), p99Us: Number(row[7]) };
  }
  // #bytes #iterations BW_peak[MB/sec] BW_average[MB/sec] MsgRate[Mpps]
  return { bwMBps: Number(row[3]), mpps: Number(row[4]) };
}
