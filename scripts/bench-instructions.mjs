// `npm run bench -- instructions`: builds the lab's instruction counter (a TCG plugin), runs
// bench/instructions.mjs in a one-vCPU guest with it, pairs each window the benchmark opened with the
// counts the plugin wrote, and writes bench/instructions.json: user and kernel instructions per
// operation for this package and for perftest, with how far the run's two measurements of each differ.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { log, root, sh } from './lib.mjs';

export function runInstructionBench() {
  const dir = join(root, '.lab');
  mkdirSync(dir, { recursive: true });
  const plugin = join(dir, 'counter.so');
  const src = join(root, 'bench', 'instructions', 'counter.c');
  sh('gcc', ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-Wno-unused-parameter', '-o', plugin, src]);
  const counts = join(dir, 'instr-counts.txt');
  const windowsFile = join(dir, 'instr-windows.json');
  rmSync(windowsFile, { force: true });
  // --single-threaded: V8 compiles and collects on the main thread only, so that no background thread's
  // work lands in a window at a moment the scheduler picks.
  const status = sh(
    process.execPath,
    [
      'dist/cli.js',
      'lab',
      '--timeout',
      '3600',
      '--tcg-plugin',
      `${plugin},out=${counts}`,
      '--',
      `node --single-threaded bench/instructions.mjs ${windowsFile}`,
    ],
    { allowFail: true, env: { ...process.env, RDMA_CCM_LAB_MODE: 'vm' } },
  );
  if (!existsSync(windowsFile)) {
    log(`bench: the instruction run in the lab failed (exit ${status})`);
    return false;
  }
  const windows = JSON.parse(readFileSync(windowsFile, 'utf8'));
  let lines = readFileSync(counts, 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split(' ').map(Number));
  // A run cut short keeps the windows it recorded (the counter may have closed one more).
  if (status !== 0) {
    log(
      `bench: the instruction run ended early (exit ${status}); its first ${windows.length} windows are kept`,
    );
    if (lines.length === windows.length + 1) lines = lines.slice(0, windows.length);
  }
  if (lines.length !== windows.length)
    throw new Error(`the counter closed ${lines.length} windows, the benchmark opened ${windows.length}`);
  // (side, op, size) → the counts of its windows by operation count. A disturbance only adds
  // instructions, so each window's figure is the smallest of its runs; per operation is the difference
  // of the two window sizes' minima over the difference of their operation counts.
  const per = new Map();
  windows.forEach((w, i) => {
    if (w.side === 'void') return;
    const key = `${w.side}|${w.op}|${w.size}`;
    const byN = per.get(key) ?? new Map();
    byN.set(w.n, [...(byN.get(w.n) ?? []), { user: lines[i][0], kernel: lines[i][1] }]);
    per.set(key, byN);
  });
  const figure = (side, op, size) => {
    const byN = per.get(`${side}|${op}|${size}`);
    if (!byN || byN.size !== 2) return null;
    const [[n1, r1], [n2, r2]] = [...byN.entries()].sort((a, b) => a[0] - b[0]);
    const min = (rs, k) => Math.min(...rs.map((r) => r[k]));
    const at = (k) => (min(r2, k) - min(r1, k)) / (n2 - n1);
    // How far each run's own pair of windows is from the figure: the disturbance the minimum removed.
    const runs = Math.min(r1.length, r2.length);
    const spread = (k) =>
      Math.max(
        ...Array.from(
          { length: runs },
          (_, i) => Math.abs((r2[i][k] - r1[i][k]) / (n2 - n1) - at(k)) / at(k),
        ),
      );
    return {
      user: Math.round(at('user')),
      kernel: Math.round(at('kernel')),
      runs,
      spread: { user: Number(spread('user').toFixed(4)), kernel: Number(spread('kernel').toFixed(4)) },
    };
  };
  const rows = [];
  for (const op of [
    'N-API accessor (qp.native.closed)',
    'addon pollCount(1, 0), empty CQ',
    'cq.pollCount(1, 0), empty CQ',
  ])
    rows.push({ op, size: 0, ours: figure('ours', op, 0), perftest: null });
  for (const size of [2, 4096])
    for (const op of [
      'READ',
      'READ (post, then pollCount)',
      'WRITE',
      'SEND',
      'await qp.read()',
      'READ, fast path, batches of 64',
      'mirrored append',
    ])
      rows.push({ op, size, ours: figure('ours', op, size), perftest: figure('perftest', op, size) });
  // Full-rate appends have no perftest row of their own: the WRITE of the same payload is their reference.
  for (const op of [
    'placed append, awaited one at a time',
    'placed append, 64 in flight',
    'delivered append, 64 in flight',
  ])
    rows.push({ op, size: 4096, ours: figure('ours', op, 4096), perftest: null });
  // Node's own TCP over loopback in the same guest, both ends: what the mirror's rows are set against.
  for (const op of ['Node TCP echo, awaited one at a time', 'Node TCP echo, 64 in flight'])
    rows.push({ op, size: 4096, ours: null, perftest: null, node: figure('node', op, 4096) });
  // A partial run (RDMA_CCM_INSTR_ONLY, or one cut short) keeps the recorded rows it did not measure.
  const file = join(root, 'bench', 'instructions.json');
  const recorded =
    (process.env.RDMA_CCM_INSTR_ONLY || status !== 0) && existsSync(file)
      ? JSON.parse(readFileSync(file, 'utf8'))
      : [];
  for (const r of rows)
    if (!r.ours && !r.node) Object.assign(r, recorded.find((x) => x.op === r.op && x.size === r.size) ?? {});
  writeFileSync(file, JSON.stringify(rows, null, 2) + '\n');
  const k = (x) => (x === null || x === undefined ? 'n/a' : `${(x / 1000).toFixed(1)}K`);
  const pct = (s) => (s ? `${(100 * Math.max(s.user, s.kernel)).toFixed(1)}%` : '-');
  const table = [
    [
      'operation',
      'size',
      'perftest user',
      'ours user',
      'ratio',
      'perftest kernel',
      'ours kernel',
      'largest single-run deviation (perftest, ours)',
    ],
  ];
  for (const r of rows)
    table.push([
      r.op,
      r.size ? `${r.size} B` : '-',
      k(r.perftest?.user),
      k((r.ours ?? r.node)?.user),
      r.perftest && r.ours ? `${(r.ours.user / r.perftest.user).toFixed(2)}x` : '-',
      k(r.perftest?.kernel),
      k((r.ours ?? r.node)?.kernel),
      `${pct(r.perftest?.spread)}, ${pct((r.ours ?? r.node)?.spread)}`,
    ]);
  const w = table[0].map((_, c) => Math.max(...table.map((r) => r[c].length)));
  for (const r of table) log(r.map((x, c) => x.padEnd(w[c])).join('  '));
  return status === 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exit(runInstructionBench() ? 0 : 1);
