// `npm run test:unit`: the unit tests, after building what they load where it is missing or older than
// its sources: the native addon (build/) and the TypeScript (dist/). Arguments go to vitest.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { buildNative, buildTs } from './build.mjs';
import { newerThanTsSources, root } from './lib.mjs';

buildNative(); // at once when the addon is newer than its sources
if (!newerThanTsSources(join(root, 'dist', 'index.js'))) buildTs();
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const r = spawnSync(process.execPath, [vitest, 'run', '--dir', 'test/unit', ...process.argv.slice(2)], {
  stdio: 'inherit',
  cwd: root,
});
process.exit(r.status ?? 1);
