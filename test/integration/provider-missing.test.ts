// A device whose user-space provider is missing (ibverbs-providers not installed): libibverbs lists no
// device, opening it is ERR_RDMA_PROVIDER_MISSING, and `rdma-ccm devices` says what to install. The
// providers are taken away for real: in a mount namespace of its own, an empty /etc/libibverbs.d, where
// libibverbs reads which providers to load.
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lab } from './lab';

const { devices } = lab();
const DIST = resolve(__dirname, '../../dist');
const LINE = `RDMA device ${devices[0]} has no user-space provider: Debian/Ubuntu: apt-get install libibverbs1 librdmacm1 ibverbs-providers (rdma-core); RHEL/Fedora: dnf install libibverbs librdmacm rdma-core`;

function withoutProviders(args: string[]) {
  const hide = 'mount -t tmpfs none /etc/libibverbs.d && exec "$@"';
  const r = spawnSync('unshare', ['-m', 'sh', '-c', hide, 'sh', process.execPath, ...args], {
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('a device without its provider', () => {
  it('is listed by no one, refused at open with ERR_RDMA_PROVIDER_MISSING, and named by rdma-ccm devices', () => {
    const open = withoutProviders([
      '-e',
      `
      const v = require(${JSON.stringify(`${DIST}/verbs/index.js`)});
      try { new v.Context(${JSON.stringify(devices[0])}); } catch (e) { console.log(v.getDevices().length + ' ' + e.code + ' ' + e.message); }`,
    ]);
    expect(open.stdout).toBe(`0 ERR_RDMA_PROVIDER_MISSING rdma-ccm: ${LINE}\n`);
    const cli = withoutProviders([`${DIST}/cli.js`, 'devices']);
    expect(cli.stderr).toBe(`rdma-ccm devices: ${LINE}\n`);
    expect(cli.status).toBe(0);
  });
});
