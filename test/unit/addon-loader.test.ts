// The addon loader on the host: RDMA_CCM_ADDON names the build that loads (the sanitizer run and the
// lab's stack builds rely on it); a name that does not exist, and a build for a newer glibc than the
// host's, are one line with a code.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { addonPath } from '../../lib/addon-loader';
import { requiringNewerGlibc } from '../support/newer-glibc';

const VERBS = resolve(__dirname, '../../dist/verbs/index.js');
const saved = process.env.RDMA_CCM_ADDON;
afterEach(() => {
  if (saved === undefined) delete process.env.RDMA_CCM_ADDON;
  else process.env.RDMA_CCM_ADDON = saved;
});

describe('addon loader', () => {
  it('loads the build RDMA_CCM_ADDON names, and no other', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rdma-ccm-addon-'));
    try {
      delete process.env.RDMA_CCM_ADDON;
      const copy = join(dir, 'other.node');
      copyFileSync(addonPath(), copy);
      const r = spawnSync(
        process.execPath,
        [
          '-e',
          `const v = require(${JSON.stringify(VERBS)}); console.log(JSON.stringify({ devices: Array.isArray(v.getDevices()), addons: Object.keys(require.cache).filter((f) => f.endsWith('.node')) }))`,
        ],
        {
          env: { ...process.env, RDMA_CCM_ADDON: copy },
          encoding: 'utf8',
        },
      );
      expect(r.stderr).toBe('');
      expect(JSON.parse(r.stdout)).toEqual({ devices: true, addons: [copy] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a name that does not exist with ERR_RDMA_ADDON_MISSING', () => {
    process.env.RDMA_CCM_ADDON = '/nonexistent/rdma_ccm.node';
    expect(() => addonPath()).toThrow(
      expect.objectContaining({
        code: 'ERR_RDMA_ADDON_MISSING',
        message: 'rdma-ccm: RDMA_CCM_ADDON names /nonexistent/rdma_ccm.node, which does not exist',
      }),
    );
  });

  it('says a build needing a newer glibc is incompatible and names the version the dynamic loader missed', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rdma-ccm-addon-'));
    try {
      delete process.env.RDMA_CCM_ADDON;
      const newer = join(dir, 'newer.node');
      writeFileSync(newer, requiringNewerGlibc(readFileSync(addonPath())));
      const r = spawnSync(
        process.execPath,
        [
          '-e',
          `try { require(${JSON.stringify(VERBS)}) } catch (e) { console.log(e.code + ' ' + e.message) }`,
        ],
        {
          env: { ...process.env, RDMA_CCM_ADDON: newer },
          encoding: 'utf8',
        },
      );
      expect(r.stdout).toBe(
        'ERR_RDMA_ADDON_INCOMPATIBLE rdma-ccm: the native addon needs GLIBC_9.99, which this system lacks: build it here with `npm rebuild rdma-ccm --build-from-source`\n',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('finds the local build or the prebuild without it', () => {
    delete process.env.RDMA_CCM_ADDON;
    expect(addonPath()).toMatch(/\/(build\/Release\/rdma_ccm|prebuilds\/linux-[a-z0-9]+\/node\.napi)\.node$/);
  });
});
