#!/usr/bin/env node
// npm's install hook: nothing to compile when node-gyp-build finds a fitting prebuild or a local build
// (--build-from-source compiles anyway); otherwise build from source, or stop in one line when the
// build tools or rdma-core's development headers are absent.
'use strict';
const { join } = require('path');
const { spawnSync } = require('child_process');

const root = join(__dirname, '..');
if (process.env.npm_config_build_from_source !== 'true') {
  try {
    require('node-gyp-build').resolve(root);
    process.exit(0);
  } catch {
    // none fits: build one
  }
}

for (const check of ['check-tools.js', 'check-headers.js'])
  if (spawnSync(process.execPath, [join(__dirname, check)], { stdio: ['ignore', 'ignore', 'inherit'] }).status !== 0) process.exit(1);
const gyp = process.env.npm_config_node_gyp || require.resolve('node-gyp/bin/node-gyp.js');
const r = spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
