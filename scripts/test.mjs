// `npm test`: set up, build, check formatting, lint, types and the API reference, run the unit and package
// tests on this host, prove the lab's devices are real (selftest in both topologies), run the integration
// tests on rxe devices in the lab, and one chaos seed. `npm test -- unit integration` runs only those steps.
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setup } from './setup.mjs';
import { buildNative, buildTs } from './build.mjs';
import { log, root, sh } from './lib.mjs';

const vitest = join('node_modules', 'vitest', 'vitest.mjs');
const out = join(root, '.lab');
// Each fault a test injected and survived, with what it checked after (test/integration/lab.ts recordFault).
const faultLog = join(out, 'faults.jsonl');
// The chaos step's seed (a regression seed can take its place once one finds a defect). Seed 917's three
// minutes zero node 2's NVRAM header twice while its CCM is down (node 1 writes its log there again), take
// node 1 down with its witness path hung and every link cut, fence node 2 through failures, and stall both.
const CHAOS_SEED = 917;

/** The counts of a step that is one check, passed or failed by its exit status. */
const single = (status) => ({
  status,
  passed: status === 0 ? 1 : 0,
  failed: status === 0 ? 0 : 1,
  skipped: 0,
});

/** Runs vitest on `which` (`--dir D` or files), through `wrap` (a lab) if given; the counts from its JSON report. */
function vitestRun(which, json, wrap) {
  rmSync(json, { force: true });
  const cmd = `node ${vitest} run ${which} --reporter=default --reporter=json --outputFile=${json}`;
  const status = wrap ? wrap(cmd) : sh('sh', ['-c', cmd], { allowFail: true });
  let counts = { passed: 0, failed: 0, skipped: 0 };
  if (existsSync(json)) {
    const r = JSON.parse(readFileSync(json, 'utf8'));
    counts = {
      passed: r.numPassedTests,
      failed: r.numFailedTests,
      skipped: r.numPendingTests + r.numTodoTests,
    };
  } else if (status !== 0) counts.failed = 1;
  return { status, ...counts };
}

const args = new Set(process.argv.slice(2));
const only = (name) => args.size === 0 || args.has(name);

setup();
buildTs();
const { Progress } = await import('../dist/progress.js');
const steps = [
  ['native', 'native addon', () => (buildNative(), null)],
  [
    'format',
    'formatting (Prettier, clang-format)',
    () => [
      'formatting (Prettier, clang-format)',
      single(sh(process.execPath, ['scripts/format-check.mjs'], { allowFail: true })),
    ],
  ],
  [
    'lint',
    'lint (ESLint)',
    () => [
      'lint (ESLint)',
      single(sh(process.execPath, ['node_modules/eslint/bin/eslint.js', '.'], { allowFail: true })),
    ],
  ],
  [
    'typecheck',
    'type check of the tests and the published typings (tsc)',
    () => [
      'type check of the tests and the published typings (tsc)',
      single(
        sh(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.test.json'], {
          allowFail: true,
        }),
      ),
    ],
  ],
  [
    'docs',
    'API reference (TypeDoc; a warning fails)',
    () => [
      'API reference (TypeDoc)',
      single(sh(process.execPath, ['node_modules/typedoc/bin/typedoc'], { allowFail: true })),
    ],
  ],
  [
    'unit',
    'unit tests (host)',
    () => ['unit tests (host)', vitestRun('--dir test/unit', join(out, 'unit.json'))],
  ],
  [
    'package',
    'package tests (host)',
    () => [
      'package tests (host)',
      vitestRun('--dir test/package --no-file-parallelism', join(out, 'package.json')),
    ],
  ],
  ...['veth', 'two-guests'].map((topology) => [
    'selftest',
    `lab selftest, ${topology}`,
    () => [
      `lab selftest, ${topology} (rxe)`,
      single(
        sh(process.execPath, ['dist/cli.js', 'lab', 'selftest', '--topology', topology], { allowFail: true }),
      ),
    ],
  ]),
  [
    'integration',
    'integration tests (lab)',
    () => {
      const lab = (cmd) =>
        sh(
          process.execPath,
          ['dist/cli.js', 'lab', '--timeout', '3000', '--', `RDMA_CCM_FAULT_LOG=${faultLog} ${cmd}`],
          { allowFail: true },
        );
      return [
        'integration tests (lab, rxe)',
        vitestRun('--dir test/integration', join(out, 'integration.json'), lab),
      ];
    },
  ],
  [
    'trixie',
    'integration tests on the trixie stack (lab)',
    () => {
      // The second stack: Debian 13's kernel (6.12, whose rxe has ATOMIC_WRITE and FLUSH) and a Debian 13
      // root (rdma-core 56, the addon built against it), for the whole integration suite again.
      const lab = (cmd) =>
        sh(process.execPath, ['dist/cli.js', 'lab', '--stack', 'trixie', '--timeout', '3000', '--', cmd], {
          allowFail: true,
        });
      return [
        'integration tests on the trixie stack (lab, rxe, kernel 6.12, rdma-core 56)',
        vitestRun('--dir test/integration', join(out, 'trixie.json'), lab),
      ];
    },
  ],
  [
    'two-guests',
    'CCM across two guests (lab)',
    () => {
      // The HA story across two guests (the demo, asserted): late boot, one cable pulled, both pulled while
      // the partner runs, the partner killed hard (witness, fence, takeover), rebooted (giveback).
      const status = sh(process.execPath, ['scripts/demo.mjs'], { allowFail: true });
      if (status === 0)
        for (const fault of [
          "one of the partner guest's two cables pulled under mirroring (link-down, no partner-down), then plugged back (the link rejoined)",
          "both of the partner guest's cables pulled while it runs (interconnect-down by the witness disk, no takeover), then plugged back (same boot)",
          'partner guest killed hard (partner-down confirmed by the witness, fenced, taken over)',
          'partner guest booted again (new generation): waited for the giveback, then ACTIVE',
        ])
          appendFileSync(faultLog, `${JSON.stringify({ fault })}\n`);
      return [
        'CCM across two guests: late boot, a cable pulled, the interconnect cut, hard kill and takeover, reboot and giveback (lab, rxe)',
        single(status),
      ];
    },
  ],
  [
    'nvdimm',
    'NVDIMM power loss across two guests, both stacks (lab)',
    () => {
      // Debian 12's stack fences with READs; trixie's with RDMA FLUSHes to persistence.
      const statuses = [[], ['--stack', 'trixie']].map((stack) => {
        const status = sh(process.execPath, ['test/guests/nvdimm-power-loss.mjs', ...stack], {
          allowFail: true,
        });
        if (status === 0)
          appendFileSync(
            faultLog,
            `${JSON.stringify({ fault: `NVDIMM owner guest killed hard right after persisted appends resolved, booted again: every persisted record found in its NVDIMM (${stack[1] ?? 'default'} stack)` })}\n`,
          );
        return status;
      });
      const failed = statuses.filter((x) => x !== 0).length;
      return [
        'NVDIMM power loss: the owner guest killed hard after persisted appends, booted again, every record found (lab, rxe, both stacks)',
        { status: failed ? 1 : 0, passed: 2 - failed, failed, skipped: 0 },
      ];
    },
  ],
  [
    'chaos',
    'chaos: a fixed seed, 3 minutes of faults (lab)',
    () => {
      // A randomized fault schedule on the two guests, every step checked by the history checker
      // (scripts/chaos.mjs); the seed stays fixed so that a failure replays. Without power-offs: a guest's
      // boot again would take most of the budget.
      const status = sh(
        process.execPath,
        ['scripts/chaos.mjs', '--seed', String(CHAOS_SEED), '--minutes', '3', '--no-power-off'],
        { allowFail: true },
      );
      return [`chaos, seed ${CHAOS_SEED}, 3 minutes: no invariant broken (lab, rxe)`, single(status)];
    },
  ],
].filter(([name]) => name === 'native' || only(name));

mkdirSync(out, { recursive: true });
rmSync(faultLog, { force: true });
const results = [];
const progress = new Progress({ title: 'test', total: steps.length });
for (const [, label, run] of steps) {
  progress.next(label);
  const r = run();
  if (r) results.push(r);
}
progress.done();

// The figures of the fault runs: faults injected and survived, attacks refused, mirrored records checked,
// resources left behind.
if (existsSync(faultLog)) {
  const lines = readFileSync(faultLog, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const faults = lines.filter((l) => l.fault !== undefined && l.leaked === undefined);
  const attacks = lines.filter((l) => l.attack !== undefined);
  const checks = lines.filter((l) => l.leaked !== undefined);
  const records = lines.reduce((n, l) => n + (l.records ?? 0), 0);
  const leaked = checks.reduce((n, l) => n + l.leaked, 0);
  log(
    `\nfaults: ${faults.length} injected and survived, ${attacks.length} attacks refused, ${records} mirrored records checked (none lost, none twice), ${checks.length} resource checks, ${leaked} RDMA resources left behind`,
  );
  for (const f of faults) log(`  ${f.fault}${f.records ? ` (${f.records} records)` : ''}`);
  for (const a of attacks) log(`  attack: ${a.attack}${a.records ? ` (${a.records} records after it)` : ''}`);
}

let passed = 0;
let failed = 0;
let skipped = 0;
log('\nsummary:');
for (const [name, r] of results) {
  log(
    `  ${name}: ${r.passed} passed, ${r.failed} failed${r.skipped ? `, ${r.skipped} skipped` : ''}${r.status !== 0 && r.failed === 0 ? ` (exit ${r.status})` : ''}`,
  );
  passed += r.passed;
  failed += r.failed + (r.status !== 0 && r.failed === 0 ? 1 : 0);
  skipped += r.skipped;
}
process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
