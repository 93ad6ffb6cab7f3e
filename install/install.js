#!/usr/bin/env node
// npm's install hook: nothing to do when a prebuild or a local build exists; otherwise build from source.
'use strict';
const { existsSync } = require('fs');
const { join } = require('path');
const { spawnSync } = require('child_process');

const root = join(__dirname, '..');
const prebuild = join(root, 'prebuilds', `${process.platform}-${process.arch}`, 'node.napi.node');
if (existsSync(prebuild) || existsSync(join(root, 'build', 'Release', 'rdma_ccm.node'))) process.exit(0);

const check = spawnSync(process.execPath, [join(__dirname, 'check-headers.js')], { stdio: ['ignore', 'ignore', 'inherit'] });
if (check.status !== 0) process.exit(1);
const gyp = process.env.npm_config_node_gyp || require.resolve('node-gyp/bin/node-gyp.js');
const r = spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
