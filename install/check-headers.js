#!/usr/bin/env node
// Stops a native build early, in one line, when rdma-core's development headers are absent.
'use strict';
const fs = require('fs');
const needed = ['/usr/include/infiniband/verbs.h', '/usr/include/rdma/rdma_cma.h'];
const extra = (process.env.RDMA_CCM_INCLUDE_DIR || '').split(':').filter(Boolean);
const found = (h) =>
  fs.existsSync(h) ||
  extra.some((d) => fs.existsSync(require('path').join(d, h.replace('/usr/include/', ''))));
const missing = needed.filter((h) => !found(h));
if (missing.length) {
  process.stderr.write(
    `rdma-ccm: cannot build the native addon: ${missing.join(', ')} not found; install rdma-core's development headers (Debian/Ubuntu: apt-get install libibverbs-dev librdmacm-dev; Fedora/RHEL: dnf install rdma-core-devel)\n`,
  );
  process.exit(1);
}
process.stdout.write('ok\n');
