// The workload of a chaos run (scripts/chaos.mjs), one per guest: a storage daemon like
// examples/storage-node.mjs that appends records to its partner at all three durability levels, mixed
// sizes up to a third of the ring, steadily and in bursts; takes over its partner on takeover-safe (after
// replaying the partner's log) and gives back once the partner's next session is up. Every append's
// invocation and outcome, every delivery, replay and CCM event is written at once (a synchronous write
// to the shared work folder, so that a power-off loses nothing written) as a history line (lib/lab/chaos/
// history.ts) stamped with the guest's monotonic clock; the host maps it to the run's timeline.
//   node scripts/chaos-node.mjs --node-id N --address A0,A1 --partner P@B0,B1:PORT --port PORT
//     --history FILE [--witness DEV] [--nvram DEV] [--fence-dir DIR] [--inject duplicate]
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { ClusterNode } from 'rdma-ccm/ccm';
import { contextFor } from 'rdma-ccm/cm';
import { HISTORY_EVENTS } from '../dist/lab/chaos/history.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const nodeId = Number(opt('node-id'));
const [pid, paddr, pport] = /^(\d+)@(.+):(\d+)$/.exec(opt('partner')).slice(1);
const partner = Number(pid);
const heartbeatMs = Number(opt('heartbeat-ms', '100'));
const partnerDownMs = Number(opt('partner-down-ms', '3000'));
const ringBytes = Number(opt('ring-bytes', String(64 << 10)));
const inject = opt('inject');
// O_SYNC: the guest's 9p mount may cache writes (a trixie kernel does), and a guest powered off, or the
// host reading the file meanwhile, must find every line written.
const history = openSync(opt('history'), 'as');
const mono = () => Number(process.hrtime.bigint() / 1000n) / 1000;
const json = (o) => JSON.stringify(o, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
// The lines of one turn of the event loop go out in one write: a synchronous write per line would hold
// the loop (and the CCM's heartbeats) for as long as the emulated guest's file system takes.
let lines = [];
const write = (o) => {
  if (lines.length === 0) queueMicrotask(flush);
  lines.push(`${json({ ...o, clock: String(nodeId), mono: mono(), offset: 0 })}\n`);
};
function flush() {
  const text = lines.join('');
  lines = [];
  writeSync(history, text);
}
const say = (kind, o) => process.stdout.write(`${kind} ${json(o)}\n`);
const kept = new Set(HISTORY_EVENTS);

/** RDMA resources (by kind) and file descriptors this process holds, for the audit at the end. */
function held() {
  const rdma = {};
  for (const kind of ['qp', 'cq', 'mr', 'pd', 'cm_id']) {
    const rows = JSON.parse(
      execFileSync('rdma', ['-j', 'resource', 'show', kind], { encoding: 'utf8' }) || '[]',
    );
    rdma[kind] = rows.flat().filter((r) => r.pid === process.pid).length;
  }
  const fds = readdirSync('/proc/self/fd').map((f) => {
    try {
      return readlinkSync(`/proc/self/fd/${f}`);
    } catch {
      return null; // the folder's own descriptor, closed by now
    }
  });
  return { rdma, fds: fds.filter((f) => f !== null) };
}
// What stays open for the process's life is counted before the start: the devices' contexts (contextFor),
// and stdout (Node opens a descriptor when it first sets up a piped stdout).
for (const a of opt('address').split(',')) await contextFor(a);
say('chaos-start', { node: nodeId, pid: process.pid });
const baseline = held();

/**
 * The fence hook with --fence-dir: a request line to the host (scripts/chaos.mjs), which has the target's
 * guest kill its workload (or finds its guest off, or fails on purpose: a fence-fail fault), and answers
 * in DIR/ID.done: `ok`, or why not.
 */
let fences = 0;
async function fence(target) {
  const dir = opt('fence-dir');
  // Unique across boots too: a guest's workload gets the same pid each boot, and an old answer must not count.
  const id = `${nodeId}.${Date.now().toString(36)}.${++fences}`;
  appendFileSync(join(dir, `requests-${nodeId}`), `${id} ${target}\n`);
  for (const end = Date.now() + 30_000; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) {
    const done = join(dir, `${id}.done`);
    if (!existsSync(done)) continue;
    const answer = readFileSync(done, 'utf8').trim();
    if (answer === 'ok') return;
    throw new Error(answer);
  }
  throw new Error('the fence device did not answer in 30 s');
}

const witness = opt('witness');
const ccm = new ClusterNode({
  clusterId: 4343n,
  nodeId,
  address: opt('address').split(','),
  port: Number(opt('port')),
  partners: [{ nodeId: partner, address: paddr.split(','), port: Number(pport) }],
  secret: 'chaos run secret',
  heartbeatMs,
  partnerDownMs,
  logRingBytes: ringBytes,
  ...(opt('nvram') ? { nvram: { path: opt('nvram'), persistent: true } } : {}),
  ...(opt('fence-dir') ? { fence } : {}),
  ...(witness
    ? {
        witness: {
          path: witness,
          intervalMs: Number(opt('witness-interval-ms', '500')),
          timeoutMs: Number(opt('witness-timeout-ms', '2500')),
        },
      }
    : {}),
});
ccm.on('event', (e) => {
  if (kept.has(e.type)) write({ kind: 'ccm', node: nodeId, event: e });
  if (e.type !== 'step' && e.type !== 'attempt' && e.type !== 'attempt-failed') say('ccm', e);
});
await ccm.start();
const generation = ccm.generation.toString();

// The storage stack comes up; it goes ACTIVE unless the partner holds its resources or a stall left it unsure.
const activate = () => {
  if (ccm.waitingForGiveback.length > 0 || ccm.state === 'ACTIVE') return;
  try {
    ccm.setState('ACTIVE');
  } catch (e) {
    if (e.code !== 'ERR_CCM_STALLED' && e.code !== 'ERR_CCM_STATE') throw e;
  }
};
setTimeout(() => {
  ccm.setState('READY');
  activate();
  ccm.on('giveback', activate);
  ccm.on('heard-since-stall', activate);
  ccm.on('established', () => setTimeout(activate, 500));
}, 1000);

/** Writes the replay of `partner`'s log: the one in memory now, or the one found at start. */
async function replay(partner, partnerGeneration, atStart) {
  const it = ccm.mirroredLog(partner, { atStart });
  let error = null;
  try {
    for await (const _ of it);
  } catch (err) {
    error = `${err.code}: ${err.message}`;
  }
  const { log } = it;
  // The log found at start may be of an older boot of the partner: its tags say which. One found
  // damaged, with no record left, is written with its error: the checker holds a silent loss against it.
  if (atStart && log.records.length > 0) {
    partnerGeneration = tagOf(log.records[0].payload).split('.')[1];
    if (!/^\d+$/.test(partnerGeneration ?? ''))
      return say('error', { replay: 'no tag in the log found at start' });
  }
  write({
    kind: 'replay',
    node: nodeId,
    generation,
    partner,
    partnerGeneration,
    released: log.released.toString(),
    records: log.records.map((r) => ({
      sequence: r.sequence.toString(),
      tag: tagOf(r.payload),
      acknowledged: r.acknowledged,
    })),
    error,
    stream: log.stream,
    ...(atStart ? { atStart } : {}),
  });
}

// The partner's log, from this node's memory, and the one its NVRAM held when this node started (what
// the partner persisted to this node's previous boot); then its resources.
ccm.on('takeover-safe', async (e) => {
  await replay(e.partner, e.generation, false);
  await replay(e.partner, e.generation, true);
  await ccm.takeover(e.partner).catch((err) => say('error', { takeover: err.message }));
});
ccm.on('established', (e) => {
  if (ccm.status().takeover?.partner !== e.partner) return;
  setTimeout(
    () => void ccm.giveback(e.partner).catch((err) => say('error', { giveback: err.message })),
    2000,
  );
});

// Each record's payload starts with its tag, ended by a zero byte.
const tagOf = (payload) =>
  Buffer.from(payload.buffer, payload.byteOffset, Math.min(64, payload.length))
    .toString('latin1')
    .split('\0')[0];
let count = 0;
let stopping = false;
const pending = new Set();
const appends = { invoked: 0, resolved: 0, rejected: 0 };

/** Makes one record and writes its invocation (the caller flushes the invocations before it appends). */
function record(session) {
  const r = Math.random();
  const durability = r < 0.4 ? 'delivered' : r < 0.7 ? 'placed' : 'persisted';
  // Mostly small records, some up to a third of the ring.
  const bytes =
    Math.random() < 0.1
      ? 64 + Math.floor(Math.random() * (ringBytes / 3 - 128))
      : 32 + Math.floor(Math.random() * 992);
  const tag = `${nodeId}.${generation}.${count++}`;
  const payload = Buffer.alloc(bytes, count % 251);
  payload.write(`${tag}\0`, 'latin1');
  const partnerGeneration = session.partnerGeneration.toString();
  write({ kind: 'invoke', node: nodeId, generation, partner, op: tag, tag, bytes, durability });
  appends.invoked++;
  return { tag, payload, durability, partnerGeneration };
}

function append(session, { tag, payload, durability, partnerGeneration }) {
  const p = session.mirror.append(payload, { durability }).then(
    (sequence) => {
      const stream = session.mirror.streamId;
      write({
        kind: 'resolve',
        node: nodeId,
        op: tag,
        sequence: sequence.toString(),
        durability,
        partnerGeneration,
        stream,
      });
      appends.resolved++;
      // This daemon holds its records on its own disks: all but the last few need no replay.
      if (durability !== 'delivered' && sequence > 16n) {
        try {
          session.mirror.checkpoint(sequence - 16n, stream);
        } catch {
          // The session ended meanwhile: the next one checkpoints again.
        }
      }
    },
    (err) => {
      write({
        kind: 'reject',
        node: nodeId,
        op: tag,
        code: err.code ?? 'ERR',
        maybeDelivered: err.maybeDelivered === true,
      });
      appends.rejected++;
    },
  );
  pending.add(p);
  p.finally(() => pending.delete(p));
}

let delivered = 0;
ccm.on('established', (e) => {
  const session = ccm.session(e.partner);
  const fromGeneration = session.partnerGeneration.toString();
  session.mirror.on('record', (sequence, payload) => {
    const line = {
      kind: 'deliver',
      node: nodeId,
      generation,
      from: e.partner,
      fromGeneration,
      sequence: sequence.toString(),
      tag: tagOf(payload),
    };
    write(line);
    // A deliberately broken application, to show that the checker reports it.
    if (inject === 'duplicate' && ++delivered === 50) write(line);
  });
  const tick = setInterval(() => {
    if (session.closed || stopping) return clearInterval(tick);
    // Only an ACTIVE node writes its log; reading the state first is what notices a stall of this process.
    if (ccm.state !== 'ACTIVE' || session.mirror.pending > 48) return;
    // Steady: a few records each tick; now and then a burst.
    const n = Math.random() < 0.05 ? 40 : 2;
    const records = Array.from({ length: n }, () => record(session));
    flush(); // each invocation is on record before its append can reach the partner
    for (const r of records) append(session, r);
  }, 100);
});

setInterval(() => say('chaos-stats', appends), 10_000).unref();

process.once('SIGTERM', async () => {
  stopping = true;
  await ccm.stop();
  await Promise.allSettled([...pending]);
  const now = held();
  const left = Object.keys(now.rdma).filter((k) => now.rdma[k] > baseline.rdma[k]);
  // Descriptors open now that were not at the start, but the process's one CM event channel, opened at
  // its first CM id and kept for its life.
  const opened = [...now.fds];
  for (const f of baseline.fds) opened.splice(opened.indexOf(f), opened.indexOf(f) >= 0 ? 1 : 0);
  const fds = opened.filter((f) => f !== '/dev/infiniband/rdma_cm' || baseline.fds.includes(f));
  const detail = [
    ...left.map(
      (k) => `${now.rdma[k] - baseline.rdma[k]} ${k} (${now.rdma[k]} held, ${baseline.rdma[k]} at start)`,
    ),
    ...(fds.length ? [`fds opened and not closed: ${fds.join(' ')}`] : []),
  ];
  write({
    kind: 'audit',
    node: nodeId,
    rdma: left.reduce((n, k) => n + now.rdma[k] - baseline.rdma[k], 0),
    processes: 0,
    fds: fds.length,
    detail,
  });
  flush();
  say('chaos-stats', appends);
  process.exit(0);
});
