// `npm run prebuild` (and `npm pack`'s prepack): prebuilds/linux-<arch>/node.napi.node, made by prebuildify
// unless it is newer than the addon's sources; node-gyp-build loads it where no local build exists.
import { join } from 'node:path';
import { gypEnv, log, logged, newerThanAddonSources, root, sh } from './lib.mjs';

if (
  !newerThanAddonSources(join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'node.napi.node'))
) {
  sh(process.execPath, ['install/check-headers.js'], { stdio: ['ignore', 'ignore', 'inherit'] });
  log('build: prebuild (prebuildify --napi)');
  const env = gypEnv();
  // prebuildify runs node-gyp from PATH; use the project's own.
  env.PATH = `${join(root, 'node_modules', '.bin')}:${env.PATH}`;
  // node-gyp's output goes to the set-up log (npm pack --json reads stdout); a failed build shows it.
  logged(
    process.execPath,
    [join(root, 'node_modules', 'prebuildify', 'bin.js'), '--napi', '--strip', '--name', 'node.napi'],
    { env },
  );
}
