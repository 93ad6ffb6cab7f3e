import { defineConfig } from 'vitest/config';

// Integration tests run inside the Soft-RoCE lab, where code runs far slower than on a host (qemu TCG):
// their time limits are generous and files run one at a time, since they share the lab's devices.
const integration = process.env.RDMA_CCM_LAB === '1';

export default defineConfig({
  test: {
    pool: 'forks',
    globalSetup: ['test/support/built.ts'],
    testTimeout: integration ? 120_000 : 10_000,
    hookTimeout: integration ? 120_000 : 10_000,
    fileParallelism: !integration,
    reporters: ['default'],
  },
});
