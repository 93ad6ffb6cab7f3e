import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach } from 'vitest';
import { getDevices, normalizeGid } from '../../lib/verbs';
import { ClusterNode, type CcmEvent, type CcmOptions } from '../../lib/ccm';
import { deviceSetup } from '../../lib/lab/run-script';

// The lab's description of its devices, from the environment `rdma-ccm lab` sets. Integration tests
// fail (not skip) outside the lab: a test that silently skips cannot fail.
export interface LabDevices {
  topology: string;
  devices: string[];
  netdevs: string[];
  addrs: string[];
  /** The same nodes' IPv6 addresses. */
  addrs6: string[];
}

export function lab(): LabDevices {
  const env = process.env;
  if (env.RDMA_CCM_LAB !== '1' || !env.RDMA_CCM_LAB_DEVICES)
    throw new Error('integration tests run inside the lab: npm test, or rdma-ccm lab -- <vitest command>');
  return {
    topology: env.RDMA_CCM_LAB_TOPOLOGY ?? 'veth',
    devices: env.RDMA_CCM_LAB_DEVICES.split(','),
    netdevs: (env.RDMA_CCM_LAB_NETDEVS ?? '').split(','),
    addrs: (env.RDMA_CCM_LAB_ADDRS ?? '').split(','),
    addrs6: (env.RDMA_CCM_LAB_ADDRS6 ?? '').split(','),
  };
}

/**
 * Notes a fault a test injected and what it then checked: mirrored records found exactly once, RDMA
 * resources left behind. `npm test` totals them (RDMA_CCM_FAULT_LOG names the file). Called after the
 * test's assertions, so only faults that were survived as expected are counted.
 */
export function recordFault(fault: string, checked: { records?: number; leaked?: number } = {}): void {
  const file = process.env.RDMA_CCM_FAULT_LOG;
  if (file) appendFileSync(file, `${JSON.stringify({ fault, ...checked })}\n`);
}

/**
 * Notes an attack a test made as a hostile peer and saw refused, with the live sessions intact and the
 * records checked after it. `npm test` prints the count beside the fault figures.
 */
export function recordAttack(attack: string, checked: { records?: number } = {}): void {
  const file = process.env.RDMA_CCM_FAULT_LOG;
  if (file) appendFileSync(file, `${JSON.stringify({ attack, ...checked })}\n`);
}

/**
 * A list of closers run after each test, newest first; one that throws (already closed) is passed over.
 * Each test pushes what it opens, so that a failed test leaves nothing open for the next.
 */
export function closersAfterEach(): (() => void)[] {
  const closers: (() => void)[] = [];
  afterEach(() => {
    for (const c of closers.splice(0).reverse()) {
      try {
        c();
      } catch {
        // already closed
      }
    }
  });
  return closers;
}

/** RDMA resources the kernel lists for this process, by kind. */
export function heldResources(): Record<string, number> {
  const held: Record<string, number> = {};
  for (const kind of ['qp', 'cq', 'mr', 'pd', 'cm_id']) {
    const out = execFileSync('rdma', ['-j', 'resource', 'show', kind], { encoding: 'utf8' });
    const rows = (JSON.parse(out || '[]') as { pid?: number }[]).flat();
    held[kind] = rows.filter((r) => r.pid === process.pid).length;
  }
  return held;
}

/** How many more resources `now` holds than `baseline`, over all kinds (0 when nothing leaked). */
export function leakedSince(baseline: Record<string, number>, now: Record<string, number>): number {
  return Object.keys(now).reduce((n, k) => n + Math.max(0, now[k] - (baseline[k] ?? 0)), 0);
}

/** The RoCE v2 GID of an IPv4 address, in the eight-group form queryGidTable() returns. */
export function ipv4Gid(ip: string): string {
  return normalizeGid(ip);
}

/**
 * Cuts the lab link (every packet dropped both ways, by netem at 100% loss) or restores it. The
 * netdevs stay up, as a cable pulled between two switches would leave them: rxe devices and routes
 * are untouched, only traffic stops.
 */
export function cutLink(cut: boolean): void {
  for (const dev of lab().netdevs) {
    if (cut) execFileSync('tc', ['qdisc', 'replace', 'dev', dev, 'root', 'netem', 'loss', '100%']);
    else spawnSync('tc', ['qdisc', 'del', 'dev', dev, 'root'], { stdio: 'ignore' });
  }
}

/** A second veth pair with its own rxe devices, for tests that take links down or remove devices. */
export interface PrivateLink {
  devices: [string, string];
  netdevs: [string, string];
  addrs: [string, string];
  addrs6: [string, string];
  /**
   * Deletes the devices, the pair and its routing rules. Asynchronous on purpose: the kernel finishes
   * `rdma link delete` only after this process has reacted to DEVICE_REMOVAL and let go of the device.
   */
  remove(): Promise<void>;
}

function removeDevice(device: string): Promise<void> {
  return new Promise((resolve) => {
    const p = spawn('timeout', ['60', 'rdma', 'link', 'delete', device], { stdio: 'ignore' });
    p.on('exit', () => resolve());
    p.on('error', () => resolve());
  });
}

/** Pair `pair` (1, 2, …) uses addresses 10.(99 - pair).0.1 and .2, and fd(99 - pair)::1 and ::2. */
export function privateLink(name: string, pair: number): PrivateLink {
  const nodes = [0, 1].map((i) => ({
    name: `${name}${i}`,
    device: `rxe${name}${i}`,
    netdev: `${name}${i}`,
    ip: `10.${99 - pair}.0.${i + 1}`,
    ip6: `fd${99 - pair}::${i + 1}`,
  }));
  const unlink = () => {
    spawnSync('ip', ['link', 'del', nodes[0].netdev], { stdio: 'ignore' });
    for (const p of [10 + 2 * pair, 11 + 2 * pair])
      spawnSync('ip', ['rule', 'del', 'pref', String(p)], { stdio: 'ignore' });
    for (const p of [10, 11, 60, 61].map((x) => x + 2 * pair))
      spawnSync('ip', ['-6', 'rule', 'del', 'pref', String(p)], { stdio: 'ignore' });
  };
  // Leftovers of an earlier run (no process holds them any more).
  for (const n of nodes) spawnSync('rdma', ['link', 'delete', n.device], { stdio: 'ignore' });
  unlink();
  execFileSync('bash', ['-ec', deviceSetup(nodes, true, pair)], { stdio: 'inherit' });
  return {
    devices: [nodes[0].device, nodes[1].device],
    netdevs: [nodes[0].netdev, nodes[1].netdev],
    addrs: [nodes[0].ip, nodes[1].ip],
    addrs6: [nodes[0].ip6, nodes[1].ip6],
    async remove() {
      const present = new Set(getDevices().map((d) => d.name));
      await Promise.all(nodes.filter((n) => present.has(n.device)).map((n) => removeDevice(n.device)));
      unlink();
    },
  };
}

const inProcess: ClusterNode[] = [];
const processes: ChildProcess[] = [];

/** A node in this process, its events recorded; stopNodes() stops it. */
export function testNode(options: CcmOptions): { n: ClusterNode; events: CcmEvent[] } {
  const n = new ClusterNode(options);
  const events: CcmEvent[] = [];
  n.on('event', (e) => events.push(e));
  inProcess.push(n);
  return { n, events };
}

/** A node that is `rdma-ccm node` in its own process: the CLI with `args`, plus --json. */
export interface CliNode {
  c: ChildProcess;
  /** Every event line it printed. */
  events: CcmEvent[];
  /** Each mirrored record it printed (with --records), in order. */
  records: { seq: bigint; payload: string }[];
  /** Settles when the process has exited. */
  gone: Promise<unknown>;
}

/** Starts the CLI's `node` command in its own process (with `env` added to this one's); stopNodes() kills it. */
export function cliNode(args: string[], env: NodeJS.ProcessEnv = {}): CliNode {
  const cli = resolve(__dirname, '..', '..', 'dist', 'cli.js');
  const c = spawn(process.execPath, [cli, 'node', '--json', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, ...env },
  });
  processes.push(c);
  const node: CliNode = { c, events: [], records: [], gone: new Promise((r) => c.once('close', r)) };
  createInterface({ input: c.stdout! }).on('line', (l) => {
    let x;
    try {
      x = JSON.parse(l);
    } catch {
      return; // not a JSON line
    }
    if (x.type === 'record') node.records.push({ seq: BigInt(x.seq), payload: x.payload });
    else if (typeof x.type === 'string') node.events.push(x);
  });
  return node;
}

/** Kills every CLI node and stops every node in this process (for afterEach). */
export async function stopNodes(): Promise<void> {
  for (const c of processes.splice(0)) c.kill('SIGKILL');
  await Promise.all(inProcess.splice(0).map((n) => n.stop()));
}

/** Polls until `cond` (which may be async) holds; throws naming `what` after `ms`. */
export async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  ms = 60_000,
): Promise<void> {
  for (const end = Date.now() + ms; !(await cond()); await new Promise((r) => setTimeout(r, 20)))
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
}

/** The first event of `type` (matching `pred`) in `events` from index `from`, waiting up to `ms` for it to arrive. */
export function next<T extends CcmEvent['type']>(
  events: CcmEvent[],
  type: T,
  pred: (e: Extract<CcmEvent, { type: T }>) => boolean = () => true,
  ms = 60_000,
  from = 0,
) {
  return new Promise<Extract<CcmEvent, { type: T }>>((resolve, reject) => {
    const started = Date.now();
    const t = setInterval(() => {
      const e = events.slice(from).find((x) => x.type === type && pred(x as Extract<CcmEvent, { type: T }>));
      if (e) {
        clearInterval(t);
        resolve(e as Extract<CcmEvent, { type: T }>);
      } else if (Date.now() - started > ms) {
        clearInterval(t);
        // Each event with its time of day: the order against the test's own steps is what a failure needs.
        const seen = events.map((x, i) => `${i === from ? '| ' : ''}${x.type}@${x.time.slice(11, 23)}`);
        reject(new Error(`no ${type} within ${ms} ms (from index ${from}); saw ${seen.join(', ')}`));
      }
    }, 20);
  });
}

/** Two links between nodes a and b: the lab's own pair (link 0) and a private one (link 1); `cut` drops a link's packets both ways (netem 100% loss, netdevs up). */
export interface TwoLinks {
  /** Node a's address of each link. */
  a: string[];
  /** Node b's address of each link. */
  b: string[];
  /** Cuts link `k` (or lets it through again). */
  cut(k: 0 | 1, on: boolean): void;
  /** Cuts both links (or restores both). */
  cutAll(on: boolean): void;
  remove(): Promise<void>;
}

/** Makes the private pair `pair` (see privateLink) as link 1 beside the lab's link 0. */
export function twoLinks(name: string, pair: number): TwoLinks {
  const env = lab();
  const link = privateLink(name, pair);
  const cut = (k: 0 | 1, on: boolean) => {
    if (k === 0) return cutLink(on);
    for (const dev of link.netdevs) {
      if (on) execFileSync('tc', ['qdisc', 'replace', 'dev', dev, 'root', 'netem', 'loss', '100%']);
      else spawnSync('tc', ['qdisc', 'del', 'dev', dev, 'root'], { stdio: 'ignore' });
    }
  };
  return {
    a: [env.addrs[0], link.addrs[0]],
    b: [env.addrs[1], link.addrs[1]],
    cut,
    cutAll: (on) => (cut(0, on), cut(1, on)),
    remove: () => link.remove(),
  };
}
