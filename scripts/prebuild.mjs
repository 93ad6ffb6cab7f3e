// `npm run prebuild`: prebuilds/linux-<arch>/node.napi.node, found by lib/native.ts before any local build.
import { join } from 'node:path';
import { gypEnv, root, sh } from './lib.mjs';

sh(process.execPath, ['install/check-headers.js'], { stdio: ['ignore', 'ignore', 'inherit'] });
const env = gypEnv();
// prebuildify runs node-gyp from PATH; use the project's own.
env.PATH = `${join(root, 'node_modules', '.bin')}:${env.PATH}`;
sh(process.execPath, [join(root, 'node_modules', 'prebuildify', 'bin.js'), '--napi', '--strip', '--name', 'node.napi'], { env });
