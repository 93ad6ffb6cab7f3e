// `npm run demo`: two storage partners boot in the Soft-RoCE lab (two qemu guests joined by one link,
// or two processes on this host when its kernel has rdma_rxe). A boots and probes; B boots later and
// its CCM comes up before its storage daemon is active; the handshake completes; B becomes ACTIVE and
// A sees it; A mirrors its log to B; B is paused past the threshold (partner-down, then the same boot
// comes back); B is killed hard; A reports partner-down; B reboots and the
// session returns with a new generation. Prints a timeline and writes it as JSON to .lab/demo.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setup } from './setup.mjs';
import { buildNative, buildTs } from './build.mjs';
import { log, root } from './lib.mjs';

setup();
buildNative();
buildTs();
const { prepareLab, startGuest, guestNode } = await import(join(root, 'dist', 'lab', 'index.js'));
const { hostSetup, hostTeardown, HOST_NODES, hostSpawn } = await import(join(root, 'dist', 'lab', 'host-rxe.js'));

const PORT = 7471;
const t0 = Date.now();
const timeline = [];
const waiters = [];
const counters = { acked: 0, received: 0 };

function note(node, kind, text, data) {
  const entry = { atMs: Date.now() - t0, node, kind, text, ...(data ? { data } : {}) };
  timeline.push(entry);
  process.stdout.write(`${(entry.atMs / 1000).toFixed(2).padStart(7)} s  [${node}] ${text}\n`);
  for (const w of [...waiters]) if (w.match(entry)) {
    waiters.splice(waiters.indexOf(w), 1);
    w.resolve(entry);
  }
}

function waitFor(match, what, timeoutMs = 240_000) {
  return new Promise((resolve, reject) => {
    const w = { match, resolve };
    waiters.push(w);
    setTimeout(() => {
      if (waiters.includes(w)) reject(new Error(`demo: gave up waiting for ${what} after ${timeoutMs / 1000} s`));
    }, timeoutMs).unref();
  });
}

const describe = {
  listening: (e) => `CCM listening on ${e.address}:${e.port}, generation ${e.generation} (state BOOTING)`,
  state: (e) => `storage daemon: ${e.from} → ${e.to}`,
  attempt: (e) => `probe ${e.attempt} → partner ${e.partner}`,
  step: (e) => `${e.role} step: ${e.step}${e.detail ? ` (${e.detail})` : ''}`,
  'attempt-failed': (e) => `${e.step} failed: ${e.code}${e.retryInMs !== undefined ? `, retry in ${e.retryInMs} ms` : ''}`,
  rejected: (e) => `rejected a request: ${e.reason}`,
  'protocol-error': (e) => `refused ${e.block}: ${e.code}`,
  established: (e) => `SESSION ESTABLISHED with ${e.partner} as ${e.role} (handshake ${e.handshakeMs} ms, partner ${e.partnerState})`,
  'partner-state': (e) => `partner ${e.partner}: ${e.from} → ${e.to}`,
  'partner-down': (e) => `PARTNER ${e.partner} DOWN, detected in ${e.detectionMs} ms (${e.reason})`,
  'partner-rebooted': (e) => `partner ${e.partner} rebooted: generation ${e.oldGeneration} → ${e.newGeneration}`,
  'session-closed': (e) => `session closed: ${e.reason}`,
  stopped: () => 'CCM stopped',
};

function onLine(node) {
  return (line) => {
    const m = /^(ccm|mirror) (\{.*\})\s*$/.exec(line);
    if (!m) return;
    let e;
    try {
      e = JSON.parse(m[2]);
    } catch {
      return;
    }
    if (m[1] === 'mirror') {
      if (e.acked !== undefined) counters.acked = e.acked;
      if (e.received !== undefined) counters.received = e.received;
      note(node, 'mirror', e.acked !== undefined ? `mirror: ${e.acked} records acknowledged by the partner` : `mirror: ${e.received} records received from the partner`, e);
      return;
    }
    if (e.type === 'step' && e.role === 'initiator' && e.step === 'connect') return; // each attempt already says so
    note(node, e.type, (describe[e.type] ?? ((x) => x.type))(e), e);
  };
}

function daemonCommand(self, peer, extra) {
  return `exec node examples/storage-node.mjs --node-id ${self.id} --address ${self.addr} --port ${PORT} --partner ${peer.id}@${peer.addr}:${PORT} --boot-ms 4000 --heartbeat-ms 100 --partner-down-ms 1000 ${extra}`;
}

const { mode } = prepareLab(log);
const A = { id: 1, addr: mode === 'host' ? HOST_NODES[0].ip : guestNode('a').ip };
const B = { id: 2, addr: mode === 'host' ? HOST_NODES[1].ip : guestNode('b').ip };
const cmdA = daemonCommand(A, B, '--mirror --mirror-rate 400');
const cmdB = daemonCommand(B, A, '');

let a;
let b;
const start = (name) => {
  note(name === 'a' ? 'A' : 'B', 'boot', mode === 'host' ? `partner ${name.toUpperCase()} starts (process on host rxe)` : `partner ${name.toUpperCase()} boots (qemu guest, Debian kernel, rxe)`);
  if (mode === 'host') return hostSpawn(name === 'a' ? cmdA : cmdB, HOST_NODES[name === 'a' ? 0 : 1], onLine(name === 'a' ? 'A' : 'B'));
  return startGuest(name, name === 'a' ? cmdA : cmdB, { onLine: onLine(name === 'a' ? 'A' : 'B'), timeoutSec: 900 });
};

let failed = null;
if (mode === 'host') hostSetup(HOST_NODES);
try {
  a = start('a');
  await waitFor((e) => e.node === 'A' && e.kind === 'attempt-failed', "A's first probe");
  await new Promise((r) => setTimeout(r, 3000)); // A keeps probing while B is still off
  b = start('b');
  await waitFor((e) => e.node === 'A' && e.kind === 'established', 'the session (A)');
  await waitFor((e) => e.node === 'A' && e.kind === 'partner-state' && e.data.to === 'ACTIVE', 'A to see B ACTIVE');
  await waitFor((e) => e.node === 'A' && e.kind === 'mirror' && e.data.acked >= 1000, '1000 mirrored records');
  // A partner that freezes (VM paused, process stopped) past the threshold is declared down; when it thaws
  // it is the same boot: the session comes back without a reboot being reported.
  note('demo', 'pause', `pausing partner B (${mode === 'host' ? 'SIGSTOP' : 'qemu stop'}) past the 1 s threshold`);
  const rebootDuringPause = waitFor((e) => e.node === 'A' && e.kind === 'partner-rebooted', 'no reboot', 60_000).then(() => true, () => false);
  await b.pause();
  await waitFor((e) => e.node === 'A' && e.kind === 'partner-down', "A's partner-down while B is paused");
  await new Promise((r) => setTimeout(r, 2000));
  await b.resume();
  note('demo', 'resume', 'partner B resumed (same boot)');
  await waitFor((e) => e.node === 'A' && e.kind === 'established', 'the session after the pause');
  const paused = counters.acked;
  await waitFor((e) => e.node === 'A' && e.kind === 'mirror' && e.data.acked !== paused, 'mirroring after the pause');
  if (await Promise.race([rebootDuringPause, new Promise((r) => setTimeout(() => r(false), 1000))])) throw new Error('demo: a paused partner was reported as rebooted');
  note('demo', 'kill', 'killing partner B hard (no shutdown, no disconnect)');
  b.kill();
  await waitFor((e) => e.node === 'A' && e.kind === 'partner-down', "A's partner-down");
  await b.done?.catch?.(() => {});
  b = start('b');
  await waitFor((e) => e.node === 'A' && e.kind === 'partner-rebooted', "A to see B's new generation");
  await waitFor((e) => e.node === 'A' && e.kind === 'established', 'the new session');
  await waitFor((e) => e.node === 'A' && e.kind === 'partner-state' && e.data.to === 'ACTIVE', 'B ACTIVE again');
  const base = counters.acked;
  await waitFor((e) => e.node === 'A' && e.kind === 'mirror' && e.data.acked >= 500 && e.data.acked !== base, 'mirroring on the new session');
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
writeFileSync(out, JSON.stringify({ mode, startedAt: new Date(t0).toISOString(), ok: !failed, timeline }, null, 2));
process.stdout.write(`\ntimeline written to ${out}\n`);
process.exit(failed ? 1 : 0);
