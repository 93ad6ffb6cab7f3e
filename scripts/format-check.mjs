// Fails when a file is not formatted as `npm run format` would write it: Prettier for TS/JS/JSON,
// clang-format for native/. Run by `npm test` before anything that needs the lab.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const bin = (name) => join('node_modules', '.bin', name);
const nativeFiles = readdirSync('native')
  .filter((f) => /\.(cc|h)$/.test(f))
  .map((f) => join('native', f));

let failed = false;
try {
  execFileSync(bin('prettier'), ['--check', '--log-level', 'warn', '.'], { stdio: 'inherit' });
} catch {
  failed = true;
}
try {
  execFileSync(
    bin('clang-format'),
    ['--dry-run', '--Werror', ...nativeFiles, 'bench/instructions/counter.c'],
    {
      stdio: 'inherit',
    },
  );
} catch {
  failed = true;
}
if (failed) {
  console.error('format: files above differ from `npm run format`; run it and commit the result');
  process.exit(1);
}
