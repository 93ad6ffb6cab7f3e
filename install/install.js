#!/usr/bin/env node
// npm's install hook: nothing to compile when node-gyp-build finds a fitting prebuild or a local build
// that this system's glibc and libstdc++ can load (--build-from-source compiles anyway); otherwise
// build from source, or stop in one line when the build tools or rdma-core's development headers are
// absent. A missing rdma-core library is no reason to build: loading says what to install.
'use strict';
const { join } = require('path');
const { spawnSync } = require('child_process');

const root = join(__dirname, '..');
if (process.env.npm_config_build_from_source !== 'true') {
  let found = null;
  try {
    found = require('node-gyp-build').resolve(root);
  } catch {
    // none fits: build one
  }
  if (found && !lacksSymbolVersion(found)) process.exit(0);
}

/** True (and says so) when `file` needs a symbol version this system's libraries lack (a prebuild made on a newer system). */
function lacksSymbolVersion(file) {
  const probe = `try { process.dlopen({ exports: {} }, ${JSON.stringify(file)}) } catch (e) { const v = /version \`([^']+)' not found/.exec(e.message); if (v) { console.log(v[1]); process.exit(3) } }`;
  const r = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
  if (r.status !== 3) return false;
  process.stderr.write(
    `rdma-ccm: the prebuilt addon needs ${r.stdout.trim()}, which this system lacks: building it from source\n`,
  );
  return true;
}

for (const check of ['check-tools.js', 'check-headers.js'])
  if (
    spawnSync(process.execPath, [join(__dirname, check)], { stdio: ['ignore', 'ignore', 'inherit'] })
      .status !== 0
  )
    process.exit(1);
const gyp = process.env.npm_config_node_gyp || require.resolve('node-gyp/bin/node-gyp.js');
const r = spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
