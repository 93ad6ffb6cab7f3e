// Loads the addon: a prebuild made by `prebuildify --napi` first, then a local node-gyp build.
// RDMA_CCM_ADDON names another build (e.g. the sanitizer build) explicitly.
import bindings from 'bindings';
import { resolve } from 'node:path';

function load(): any {
  if (process.env.RDMA_CCM_ADDON) return require(resolve(process.env.RDMA_CCM_ADDON));
  return bindings({
    bindings: 'rdma_ccm.node',
    module_root: resolve(__dirname, '..'),
    // `prebuild` and `napi` are our own keys: bindings substitutes option values into these paths.
    prebuild: `${process.platform}-${process.arch}`,
    napi: 'node.napi.node',
    try: [
      ['module_root', 'prebuilds', 'prebuild', 'napi'],
      ['module_root', 'build', 'Release', 'bindings'],
      ['module_root', 'build', 'Debug', 'bindings'],
    ],
  } as bindings.Options);
}

export const native = load();
