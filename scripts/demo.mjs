// `npm run demo`: the HA story of two storage partners in the Soft-RoCE lab (two qemu guests joined by
// two links and sharing a witness disk, or two processes on this host, with one link and no witness,
// when its kernel has rdma_rxe). A boots and probes; B boots later, its CCM up before its storage daemon
// is active; the handshake runs on the first link and the second joins; B becomes ACTIVE and A mirrors
// its log to B. One of B's cables is pulled: a link-down, mirroring moves to the other link, nothing is
// lost; it is plugged back and the link rejoins. Both cables are pulled: the witness shows B running, so
// it is an interconnect-down and nobody takes over; the links come back to the same boot. B is killed
// hard: A sees its links and its witness heartbeat stop (partner-down), fences it, and takes over its
// resources. B boots again, sees the takeover in its handshake and waits; A gives back; B goes ACTIVE and
// mirroring goes on. B mirrors its own log to A one-sided (placed), and A replays it from its own
// memory before it takes over, checked against what B was told. Prints a timeline (which link each step used) and writes it to .lab/demo.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup } from './setup.mjs';
import { buildNative, buildTs } from './build.mjs';
import { log, root } from './lib.mjs';

setup();
buildNative();
buildTs();
const { prepareLab, startGuest, guestLinks, sharedDisk, hostSetup, hostTeardown, HOST_NODES, hostSpawn } =
  await import('rdma-ccm/lab');

const PORT = 7471;
const t0 = Date.now();
const timeline = [];
const waiters = [];
const counters = { acked: 0, received: 0 };

function note(node, kind, text, data) {
  const entry = { atMs: Date.now() - t0, node, kind, text, ...(data ? { data } : {}) };
  timeline.push(entry);
  process.stdout.write(`${(entry.atMs / 1000).toFixed(2).padStart(7)} s  [${node}] ${text}\n`);
  for (const w of [...waiters])
    if (w.match(entry)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(entry);
    }
}

/** The first timeline entry from index `from` on (by default: from now on) that matches, waiting for it. */
function waitFor(match, what, timeoutMs = 240_000, from = timeline.length) {
  const past = timeline.slice(from).find(match);
  if (past) return Promise.resolve(past);
  return new Promise((resolve, reject) => {
    const w = { match, resolve };
    waiters.push(w);
    setTimeout(() => {
      if (waiters.includes(w))
        reject(new Error(`demo: gave up waiting for ${what} after ${timeoutMs / 1000} s`));
    }, timeoutMs).unref();
  });
}

const describe = {
  listening: (e) => `CCM listening on ${e.address}:${e.port}, generation ${e.generation} (state BOOTING)`,
  state: (e) => `storage daemon: ${e.from} → ${e.to}`,
  attempt: (e) => `probe ${e.attempt} → partner ${e.partner}`,
  step: (e) => `${e.role} step: ${e.step}${e.detail ? ` (${e.detail})` : ''}`,
  'attempt-failed': (e) =>
    `${e.step} failed: ${e.code}${e.retryInMs !== undefined ? `, retry in ${e.retryInMs} ms` : ''}`,
  rejected: (e) => `rejected a request: ${e.reason}`,
  'protocol-error': (e) => `refused ${e.block}: ${e.code}`,
  established: (e) =>
    `SESSION ESTABLISHED with ${e.partner} as ${e.role} (handshake ${e.handshakeMs} ms, partner ${e.partnerState})`,
  'partner-state': (e) => `partner ${e.partner}: ${e.from} → ${e.to}`,
  'partner-down': (e) =>
    `PARTNER ${e.partner} DOWN, detected in ${e.detectionMs} ms (witness: ${e.witness}; ${e.reason})`,
  'link-up': (e) => `link ${e.link} up: ${e.localAddress} → ${e.remoteAddress} (${e.linksUp} up)`,
  'link-down': (e) =>
    `LINK ${e.link} DOWN${e.detectionMs ? `, detected in ${e.detectionMs} ms` : ''} (${e.reason}; ${e.linksUp} up)`,
  'interconnect-down': (e) =>
    `INTERCONNECT DOWN: every link to ${e.partner} is down but the witness shows it ${e.witness}: no takeover`,
  fencing: (e) => `fencing partner ${e.partner}${e.delayMs ? ` after ${e.delayMs} ms` : ''}`,
  'fence-failed': (e) => `fence failed: ${e.error}`,
  'takeover-safe': (e) => `TAKEOVER SAFE for partner ${e.partner} (by ${e.by})`,
  takeover: (e) => `took over partner ${e.partner}'s resources`,
  'waiting-for-giveback': (e) => `WAITING FOR GIVEBACK: partner ${e.partner} holds this node's resources`,
  giveback: (e) =>
    e.direction === 'given'
      ? `gave partner ${e.partner} its resources back`
      : `partner ${e.partner} gave the resources back`,
  'witness-error': (e) => `witness: ${e.error ?? 'readable again'}`,
  'partner-rebooted': (e) =>
    `partner ${e.partner} rebooted: generation ${e.oldGeneration} → ${e.newGeneration}`,
  'session-closed': (e) => `session closed: ${e.reason}`,
  stopped: () => 'CCM stopped',
};

function onLine(node) {
  return (line) => {
    const m = /^(ccm|mirror|replay) (\{.*\})\s*$/.exec(line);
    if (!m) return;
    let e;
    try {
      e = JSON.parse(m[2]);
    } catch {
      return;
    }
    if (m[1] === 'replay') {
      note(
        node,
        'replay',
        `replayed ${e.records} records of partner ${e.partner} (${e.acknowledged} acknowledged)${e.error ? `, then ${e.error}` : ''}`,
        e,
      );
      return;
    }
    if (m[1] === 'mirror') {
      // A's log is the one the demo follows; B's placed records are A's to replay.
      if (node === 'A' && e.acked !== undefined) counters.acked = e.acked;
      if (node === 'A' && e.received !== undefined) counters.received = e.received;
      const via = e.link !== undefined ? ` (over link ${e.link})` : '';
      note(
        node,
        'mirror',
        e.acked !== undefined
          ? `mirror: ${e.acked} records acknowledged by the partner${via}`
          : `mirror: ${e.received} records received from the partner${via}`,
        e,
      );
      return;
    }
    if (e.type === 'step' && e.role === 'initiator' && e.step === 'connect') return; // each attempt already says so
    note(node, e.type, (describe[e.type] ?? ((x) => x.type))(e), e);
  };
}

const { mode } = prepareLab(log);
const vm = mode !== 'host';
// The fence here is a stand-in that succeeds (the demo itself killed B); the test suite runs real ones.
function daemonCommand(self, peer, extra) {
  const witness = vm ? '--witness /dev/vda --witness-timeout-ms 5000' : '';
  // Thresholds for an emulated guest, about 20 times slower than hardware: a mirroring partner's event
  // loop lags up to a second or two there, and a lag must not pass for a death.
  return `exec node examples/storage-node.mjs --node-id ${self.id} --address ${self.addrs.join(',')} --port ${PORT} --partner ${peer.id}@${peer.addrs.join(',')}:${PORT} --boot-ms 4000 --heartbeat-ms 100 --partner-down-ms 2500 ${witness} --fence-cmd true ${extra}`;
}
const A = { id: 1, addrs: vm ? guestLinks('a').map((n) => n.ip) : [HOST_NODES[0].ip] };
const B = { id: 2, addrs: vm ? guestLinks('b').map((n) => n.ip) : [HOST_NODES[1].ip] };
const cmdA = daemonCommand(A, B, '--mirror --mirror-rate 100 --takeover --giveback-after 3000');
// B mirrors its own log to A one-sided (placed): A's CPU takes no part until it replays it at the takeover.
const cmdB = daemonCommand(
  B,
  A,
  '--mirror --mirror-rate 100 --durability placed --takeover --giveback-after 3000',
);
mkdirSync(join(root, '.lab'), { recursive: true });
const disk = vm ? sharedDisk(join(root, '.lab', 'demo-witness.img')) : undefined;

let a;
let b;
const start = (name) => {
  note(
    name === 'a' ? 'A' : 'B',
    'boot',
    mode === 'host'
      ? `partner ${name.toUpperCase()} starts (process on host rxe)`
      : `partner ${name.toUpperCase()} boots (qemu guest, Debian kernel, rxe)`,
  );
  if (mode === 'host')
    return hostSpawn(
      name === 'a' ? cmdA : cmdB,
      HOST_NODES[name === 'a' ? 0 : 1],
      onLine(name === 'a' ? 'A' : 'B'),
    );
  return startGuest(name, name === 'a' ? cmdA : cmdB, {
    onLine: onLine(name === 'a' ? 'A' : 'B'),
    timeoutSec: 900,
    disk,
  });
};

let failed = null;
if (mode === 'host') hostSetup(HOST_NODES);
try {
  a = start('a');
  await waitFor((e) => e.node === 'A' && e.kind === 'attempt-failed', "A's first probe");
  await new Promise((r) => setTimeout(r, 3000)); // A keeps probing while B is still off
  b = start('b');
  await waitFor((e) => e.node === 'A' && e.kind === 'established', 'the session (A)');
  await waitFor(
    (e) => e.node === 'A' && e.kind === 'partner-state' && e.data.to === 'ACTIVE',
    'A to see B ACTIVE',
  );
  if (vm)
    await waitFor(
      (e) => e.node === 'A' && e.kind === 'link-up' && e.data.linksUp === 2,
      'both links up',
      240_000,
      0,
    );
  await waitFor((e) => e.node === 'A' && e.kind === 'mirror' && e.data.acked >= 500, '500 mirrored records');
  const downs = () => timeline.filter((e) => e.kind === 'partner-down').length;
  if (vm) {
    // One cable pulled (B's NIC of link 0 loses carrier): a link-down, mirroring moves to link 1.
    note('demo', 'pull', "pulling B's cable of link 0 (its NIC loses carrier)");
    await b.setLink(0, false);
    await waitFor(
      (e) => e.node === 'A' && e.kind === 'link-down' && e.data.link === 0,
      "A's link-down of link 0",
    );
    const before = counters.acked;
    await waitFor(
      (e) => e.node === 'A' && e.kind === 'mirror' && e.data.acked >= before + 200 && e.data.link === 1,
      'mirroring over link 1',
    );
    if (downs() > 0) throw new Error('demo: one cable pulled was taken for a dead partner');
    await b.setLink(0, true);
    note('demo', 'plug', "plugging B's cable of link 0 back in");
    await waitFor((e) => e.node === 'A' && e.kind === 'link-up' && e.data.link === 0, 'link 0 back');
    // Both cables pulled while B runs: its witness heartbeat goes on, so nobody takes over.
    note('demo', 'pull', "pulling both of B's cables (B keeps running)");
    await b.setLink(0, false);
    await b.setLink(1, false);
    await waitFor((e) => e.node === 'A' && e.kind === 'interconnect-down', "A's interconnect-down");
    await new Promise((r) => setTimeout(r, 5000));
    if (downs() > 0 || timeline.some((e) => e.kind === 'takeover'))
      throw new Error('demo: a cut interconnect was taken for a dead partner');
    await b.setLink(0, true);
    await b.setLink(1, true);
    note('demo', 'plug', "plugging both of B's cables back in");
    const back = await waitFor(
      (e) => e.node === 'A' && e.kind === 'established',
      'the session after the interconnect came back',
    );
    if (timeline.some((e) => e.kind === 'partner-rebooted'))
      throw new Error('demo: the same boot of B was reported as rebooted');
    await waitFor(
      (e) => e.node === 'A' && e.kind === 'link-up' && e.data.linksUp === 2,
      'both links back',
      240_000,
      timeline.indexOf(back),
    );
    // The appends held across the outage went through on the same boot's session, and mirroring goes on.
    const resumed = counters.acked;
    await waitFor(
      (e) => e.node === 'A' && e.kind === 'mirror' && e.data.acked > resumed,
      'mirroring after the interconnect came back',
    );
  }
  note('demo', 'kill', 'killing partner B hard (no shutdown, no disconnect)');
  b.kill();
  await waitFor((e) => e.node === 'A' && e.kind === 'partner-down', "A's partner-down");
  const safe = await waitFor(
    (e) => e.node === 'A' && e.kind === 'takeover-safe',
    "A's takeover-safe (after fencing)",
  );
  // A replays B's log from its own memory: every record B was told was placed is there, once, in order.
  const replay = await waitFor(
    (e) => e.node === 'A' && e.kind === 'replay',
    "A's replay of B's log",
    240_000,
    timeline.indexOf(safe),
  );
  const told = timeline
    .filter((e) => e.node === 'B' && e.kind === 'mirror' && e.data.acked !== undefined)
    .at(-1);
  if (replay.data.error) throw new Error(`demo: the replay of B's log ended with ${replay.data.error}`);
  if (
    !told ||
    replay.data.acknowledged === 0 ||
    BigInt(replay.data.lastAcknowledged) < BigInt(told.data.sequence)
  )
    throw new Error(
      `demo: B was told record ${told?.data.sequence} was placed, but A's replay acknowledges up to ${replay.data.lastAcknowledged}`,
    );
  if (BigInt(replay.data.last) - BigInt(replay.data.first) + 1n !== BigInt(replay.data.records))
    throw new Error("demo: the replay of B's log has a hole or a record twice");
  await waitFor(
    (e) => e.node === 'A' && e.kind === 'takeover',
    "A's takeover of B's resources",
    240_000,
    timeline.indexOf(safe),
  );
  await b.done?.catch?.(() => {});
  b = start('b');
  await waitFor((e) => e.node === 'B' && e.kind === 'waiting-for-giveback', 'B to wait for the giveback');
  await waitFor((e) => e.node === 'A' && e.kind === 'partner-rebooted', "A to see B's new generation");
  await waitFor(
    (e) => e.node === 'B' && e.kind === 'giveback' && e.data.direction === 'received',
    'the giveback',
  );
  await waitFor(
    (e) => e.node === 'A' && e.kind === 'partner-state' && e.data.to === 'ACTIVE',
    'B ACTIVE again',
  );
  const base = counters.acked;
  await waitFor(
    (e) => e.node === 'A' && e.kind === 'mirror' && e.data.acked >= 500 && e.data.acked !== base,
    'mirroring on the new session',
  );
  note('demo', 'done', 'demo complete');
} catch (e) {
  failed = e;
  note('demo', 'error', e.message);
} finally {
  a?.kill();
  b?.kill();
  if (mode === 'host') hostTeardown(HOST_NODES);
}

mkdirSync(join(root, '.lab'), { recursive: true });
const out = join(root, '.lab', 'demo.json');
writeFileSync(
  out,
  JSON.stringify({ mode, startedAt: new Date(t0).toISOString(), ok: !failed, timeline }, null, 2),
);
process.stdout.write(`\ntimeline written to ${out}\n`);
process.exit(failed ? 1 : 0);
