// `rdma-ccm lab`: run a command where real rxe devices exist; `rdma-ccm lab selftest` proves they are real.
import { resolve } from 'node:path';
import { LAB_STACKS, runLab, type Topology, type LabStack } from '../lab';
import { defineCommand, runCommand } from './command-line';
import { UsageError } from './usage-error';

export const LAB_USAGE = `usage: rdma-ccm lab [--topology veth|two-guests] [--stack bookworm|trixie] [--timeout SEC] [--delay-b SEC] [--b CMD] [--tcg-plugin SPEC] -- <command>
       rdma-ccm lab selftest [--topology veth|two-guests] [--stack bookworm|trixie] [--timeout SEC]
  veth:        one guest (or this host) with two rxe devices on a veth pair
  two-guests:  guests a and b, two rxe devices each on two links, and a shared disk (/dev/vda);
               <command> runs in a, --b CMD in b
  --stack S    guests boot Debian S's kernel and run on a Debian S root made in the lab's cache, with
               the addon built against its rdma-core (default: the host's apt kernel and its own root)
  --tcg-plugin SPEC  loads a qemu TCG plugin (path.so,arg=value,...) into the veth guest, which then runs
               on one vCPU with single-threaded TCG (bench/instructions counts instructions this way)
`;

const CLI = resolve(__dirname, '..', 'cli.js');

/** Shell checks that rping, ib_read_lat -R and this package's device listing all work on the lab devices. */
export function selftestCommands(topology: Topology): { a: string; b?: string } {
  const devices = `node ${CLI} devices && node ${CLI} devices --json > /tmp/devices.json && node -e '
    const ds = require("/tmp/devices.json"); const want = process.env.RDMA_CCM_LAB_DEVICES.split(",");
    const addrs = process.env.RDMA_CCM_LAB_ADDRS.split(",");
    const mine = process.env.RDMA_CCM_LAB_NODE ? [process.env.RDMA_CCM_LAB_NODE === "a" ? 0 : 1] : want.map((_, i) => i);
    for (const i of mine) {
      const d = ds.find((x) => x.name === (process.env.RDMA_CCM_LAB_NODE ? want[0] : want[i]));
      if (!d) throw new Error("device missing: " + want[i]);
      const hex = addrs[i].split(".").map((n) => Number(n).toString(16).padStart(2, "0"));
      const gid = "0000:0000:0000:0000:0000:ffff:" + hex[0] + hex[1] + ":" + hex[2] + hex[3];
      if (!d.gids.some((g) => g.type === "RoCEv2" && g.gid === gid)) throw new Error(d.name + " has no RoCE v2 GID " + gid);
      if (d.ports[0].state !== "ACTIVE") throw new Error(d.name + " port is " + d.ports[0].state);
      console.log("selftest: " + d.name + " ACTIVE with RoCE v2 GID " + gid);
    }'`;
  if (topology === 'veth') {
    return {
      a: [
        'set -e',
        devices,
        'A=${RDMA_CCM_LAB_ADDRS%%,*}',
        'rping -s -a $A -C 3 -S 64 -V & srv=$!; sleep 1',
        'D0=${RDMA_CCM_LAB_DEVICES%%,*}; D1=${RDMA_CCM_LAB_DEVICES##*,}',
        'cnt() { cat /sys/class/infiniband/$1/ports/1/hw_counters/$2; }',
        's1=$(cnt $D1 sent_pkts); r0=$(cnt $D0 rcvd_pkts)',
        'rping -c -a $A -C 3 -S 64 -V; wait $srv',
        // The client must have used the second device and the server the first: packets crossed the veth pair.
        '[ $(cnt $D1 sent_pkts) -gt $s1 ] && [ $(cnt $D0 rcvd_pkts) -gt $r0 ] || { echo "selftest: rping did not cross from $D1 to $D0"; exit 1; }',
        'echo "selftest: rping passed ($D1 sent $(( $(cnt $D1 sent_pkts) - s1 )) packets, $D0 received $(( $(cnt $D0 rcvd_pkts) - r0 )))"',
        // Under TCG the client may reach the server before it listens (REJECTED, after which perftest
        // can crash): each attempt is bounded, and a failed one is run again with a longer head start.
        's1=$(cnt $D1 sent_pkts); ok=0',
        'for i in 1 2 3 4 5; do',
        '  timeout 60 ib_read_lat -R -d $D0 -n 100 -s 64 -F > /tmp/lat-s.txt 2>&1 & srv=$!; sleep $i',
        '  if timeout 60 ib_read_lat -R -d $D1 -n 100 -s 64 -F $A && wait $srv; then ok=1; break; fi',
        '  echo "selftest: ib_read_lat attempt $i failed, retrying"; kill $srv 2>/dev/null || true; wait $srv 2>/dev/null || true',
        'done',
        '[ $ok = 1 ] || { echo "selftest: ib_read_lat failed 5 times"; exit 1; }',
        '[ $(cnt $D1 sent_pkts) -ge $(( s1 + 100 )) ] || { echo "selftest: ib_read_lat did not run on $D1"; exit 1; }',
        'echo "selftest: ib_read_lat -R passed"',
      ].join('\n'),
    };
  }
  // Across two guests the client may reach the server before it listens (REJECTED), and perftest can wedge
  // under TCG: every attempt is bounded, the server listens again after a failed run, the client retries.
  const attempts = (cmd: string, label: string) =>
    `ok=0; for i in 1 2 3 4 5; do if timeout 60 ${cmd}; then ok=1; break; fi; echo "selftest: ${label} attempt $i failed, retrying"; sleep 2; done; [ $ok = 1 ]`;
  // Both links (rxe0 on 10.99.0.0/24, rxe1 on 10.98.0.0/24) and the shared disk.
  // (Guests only: the host mode of this topology has one link and no shared disk.)
  const guests = (cmd: string) => `if [ -n "$RDMA_CCM_LAB_SHARED_DISK" ]; then ${cmd}; fi`;
  const disk = guests(
    '[ -b /dev/vda ] || { echo "selftest: no shared disk at /dev/vda"; exit 1; }; echo "selftest: shared disk /dev/vda present"',
  );
  return {
    a: [
      'set -e',
      devices,
      disk,
      guests(
        `${attempts('rping -s -a 10.98.0.1 -C 3 -S 64 -V', 'rping server on link 1')}; echo "selftest: rping server on link 1 passed"`,
      ),
      attempts('rping -s -a 10.99.0.1 -C 3 -S 64 -V', 'rping server'),
      'echo "selftest: rping server passed"',
      attempts('ib_read_lat -R -d rxe0 -n 100 -s 64 -F', 'ib_read_lat server'),
      'echo "selftest: ib_read_lat -R server passed"',
    ].join('\n'),
    b: [
      'set -e',
      devices,
      disk,
      guests(
        `sleep 2; ${attempts('rping -c -a 10.98.0.1 -C 3 -S 64 -V', 'rping client on link 1')}; echo "selftest: rping client on link 1 passed"`,
      ),
      'sleep 2',
      attempts('rping -c -a 10.99.0.1 -C 3 -S 64 -V', 'rping client'),
      'echo "selftest: rping client passed"',
      'sleep 3',
      attempts('ib_read_lat -R -d rxe0 -n 100 -s 64 -F 10.99.0.1', 'ib_read_lat client'),
      'echo "selftest: ib_read_lat -R client passed"',
    ].join('\n'),
  };
}

const TOPOLOGY = { type: 'string', choices: ['veth', 'two-guests'] } as const;
const STACK = { type: 'string', choices: LAB_STACKS } as const;

const LAB = defineCommand({
  name: 'rdma-ccm lab',
  usage: LAB_USAGE,
  flags: {
    topology: TOPOLOGY,
    stack: STACK,
    timeout: { type: 'integer' },
    'delay-b': { type: 'integer' },
    b: { type: 'string' },
    'tcg-plugin': { type: 'string' },
  },
  operands: 'rest',
});

const SELFTEST = defineCommand({
  name: 'rdma-ccm lab selftest',
  usage: LAB_USAGE,
  flags: { topology: TOPOLOGY, stack: STACK, timeout: { type: 'integer' } },
});

export function runLabCommand(args: string[]): Promise<number> {
  return runCommand(LAB, args, async ({ values, operands, terminated }) => {
    if (!terminated && operands[0] === 'selftest')
      return runCommand(SELFTEST, operands.slice(1), async (selftest) => {
        const v = { ...values, ...selftest.values };
        const topology = v.topology as Topology | undefined;
        return runSelftest(topology ?? 'veth', v.stack as LabStack | undefined, v.timeout);
      });
    const command = operands.join(' ');
    if (!command) throw new UsageError('no command given');
    return runLab({
      topology: (values.topology ?? 'veth') as Topology,
      command,
      commandB: values.b,
      delayB: values['delay-b'] ?? 0,
      timeoutSec: values.timeout,
      tcgPlugin: values['tcg-plugin'],
      stack: values.stack as LabStack | undefined,
    });
  });
}

async function runSelftest(
  topology: Topology,
  stack: LabStack | undefined,
  timeoutSec = 600,
): Promise<number> {
  const cmds = selftestCommands(topology);
  const code = await runLab({ topology, command: cmds.a, commandB: cmds.b, timeoutSec, stack });
  process.stdout.write(`lab selftest (${topology}): ${code === 0 ? 'passed' : `failed (exit ${code})`}\n`);
  return code;
}
