// The lab's cache folder: guest kernels, private apt views and stack roots live there between runs.
import { homedir } from 'node:os';
import { join } from 'node:path';

/** $RDMA_CCM_LAB_CACHE, else $XDG_CACHE_HOME/rdma-ccm/lab, else ~/.cache/rdma-ccm/lab. */
export function cacheRoot(): string {
  return (
    process.env.RDMA_CCM_LAB_CACHE ||
    join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'rdma-ccm', 'lab')
  );
}
