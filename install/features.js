#!/usr/bin/env node
// The optional verbs that the installed rdma-core headers declare, printed as preprocessor defines for
// binding.gyp: ibv_wr_flush (the memory placement extensions' FLUSH) came with rdma-core 45.
'use strict';
const fs = require('fs');
const path = require('path');
const dirs = [...(process.env.RDMA_CCM_INCLUDE_DIR || '').split(':').filter(Boolean), '/usr/include'];
const header = dirs.map((d) => path.join(d, 'infiniband', 'verbs.h')).find((f) => fs.existsSync(f));
const text = header ? fs.readFileSync(header, 'utf8') : '';
const defines = [];
if (/\bibv_wr_flush\s*\(/.test(text)) defines.push('RDMA_CCM_HAVE_WR_FLUSH=1');
process.stdout.write(defines.join(' ') + '\n');
