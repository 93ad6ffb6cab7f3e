#!/usr/bin/env node
// Stops a build from source early, in one line, when the tools node-gyp needs are absent (instead of
// node-gyp's page of Python lookups).
'use strict';
const { accessSync, constants } = require('fs');
const { join } = require('path');

const onPath = (cmd) =>
  (process.env.PATH || '')
    .split(':')
    .filter(Boolean)
    .some((dir) => {
      try {
        accessSync(join(dir, cmd), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
const tools = [
  ['a C++ compiler', process.env.CXX ? [process.env.CXX.split(' ')[0]] : ['g++', 'c++', 'clang++']],
  ['make', ['make']],
  ['python3', process.env.npm_config_python || process.env.PYTHON ? [] : ['python3', 'python']],
];
const missing = tools.filter(([, names]) => names.length > 0 && !names.some(onPath)).map(([what]) => what);
if (missing.length) {
  process.stderr.write(
    `rdma-ccm: building the native addon needs ${missing.join(', ')}: install them (Debian/Ubuntu: apt-get install g++ make python3 libibverbs-dev librdmacm-dev; RHEL/Fedora: dnf install gcc-c++ make python3 rdma-core-devel), then npm rebuild rdma-ccm\n`,
  );
  process.exit(1);
}
