// Makes a fresh Debian machine ready to build: rdma-core's headers and a C++ toolchain from apt,
// then the npm dependencies. The lab installs its own packages (qemu, rdma-core tools) when it runs.
// What apt, dpkg and npm print goes to .lab/setup.log (lib.mjs logged()), shown only when a step fails.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { has, log, logged, newer, root } from './lib.mjs';

const apt = {
  'libibverbs-dev': '/usr/include/infiniband/verbs.h',
  'librdmacm-dev': '/usr/include/rdma/rdma_cma.h',
  'ibverbs-providers': '/etc/libibverbs.d/rxe.driver',
  'g++': 'g++',
  make: 'make',
  // Tests receive systemd notifications with Python (Node.js has no unix datagram sockets) and check
  // the example unit with systemd-analyze.
  python3: '/usr/bin/python3',
  systemd: 'systemd-analyze',
  // The OCF resource agent is checked with Pacemaker's ocf-tester, which validates meta-data with xmllint.
  'resource-agents': '/usr/sbin/ocf-tester',
  'libxml2-utils': 'xmllint',
};

export function setup() {
  const missing = Object.entries(apt)
    .filter(([, probe]) => (probe.startsWith('/') ? !existsSync(probe) : !has(probe)))
    .map(([pkg]) => pkg);
  if (missing.length) {
    if (!has('apt-get') || process.getuid?.() !== 0) {
      log(
        `setup: missing ${missing.join(' ')}; install them (Debian: apt-get install ${missing.join(' ')}) or run as root`,
      );
      process.exit(1);
    }
    log(`setup: apt-get install ${missing.join(' ')}`);
    logged('apt-get', ['update', '-qq']);
    logged('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  }
  const stamp = join(root, 'node_modules', '.package-lock.json');
  if (!existsSync(stamp) || newer(join(root, 'package.json'), stamp)) {
    log('setup: npm install');
    // Our own install script would build the addon; build.mjs does that explicitly.
    logged('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund']);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) setup();
