// `npm run test:asan`: the native addon built with AddressSanitizer and UndefinedBehaviorSanitizer, and the
// whole integration suite run against it in the lab. Every sanitizer report is written to a file; the run
// passes only when the tests pass and no report was written.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { setup } from './setup.mjs';
import { buildNative, buildTs } from './build.mjs';
import { gypEnv, log, root, sh } from './lib.mjs';

setup();
buildNative();
buildTs();

// A separate tree so the sanitizer build never shadows the normal one.
const dir = join(root, '.lab', 'asan');
const reports = join(dir, 'reports');
rmSync(dir, { recursive: true, force: true });
mkdirSync(reports, { recursive: true });
cpSync(join(root, 'native'), join(dir, 'native'), { recursive: true });
cpSync(join(root, 'binding.gyp'), join(dir, 'binding.gyp'));
cpSync(join(root, 'install'), join(dir, 'install'), { recursive: true });
const flags = '-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1';
log('build: native addon with AddressSanitizer and UndefinedBehaviorSanitizer');
sh(
  process.execPath,
  [join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), 'rebuild', '--jobs', 'max'],
  {
    cwd: dir,
    env: { ...gypEnv(), CFLAGS: flags, CXXFLAGS: flags, LDFLAGS: '-fsanitize=address,undefined' },
  },
);
const addon = join(dir, 'build', 'Release', 'rdma_ccm.node');
const libasan = spawnSync('gcc', ['-print-file-name=libasan.so'], { encoding: 'utf8' }).stdout.trim();
if (!existsSync(libasan)) {
  log('test:asan: libasan.so not found (Debian: apt-get install gcc)');
  process.exit(1);
}

// Node itself is not instrumented: the ASan runtime is preloaded so that it comes first.
const env = [
  `LD_PRELOAD=${libasan}`,
  `ASAN_OPTIONS=detect_leaks=0:verify_asan_link_order=0:log_path=${join(reports, 'asan')}`,
  `UBSAN_OPTIONS=print_stacktrace=1:log_path=${join(reports, 'ubsan')}`,
  `RDMA_CCM_ADDON=${addon}`,
  // Tests that repeat no native path of their own under the sanitizers skip themselves (the OCF agent, the examples).
  'RDMA_CCM_SANITIZED=1',
].join(' ');
const vitest = join('node_modules', 'vitest', 'vitest.mjs');
// `npm run test:asan -- test/integration/verbs-mw.test.ts …` runs only those files.
const files = process.argv.slice(2);
const which = files.length > 0 ? files.join(' ') : '--dir test/integration';
const status = sh(
  process.execPath,
  ['dist/cli.js', 'lab', '--timeout', '2700', '--', `env ${env} node ${vitest} run ${which}`],
  { allowFail: true },
);

const found = readdirSync(reports);
for (const f of found) process.stdout.write(`\n--- ${f}\n${readFileSync(join(reports, f), 'utf8')}`);
process.stdout.write(
  `\nsanitizers: ${found.length} report${found.length === 1 ? '' : 's'}; integration tests exit ${status}\n`,
);
process.exit(status === 0 && found.length === 0 ? 0 : 1);
