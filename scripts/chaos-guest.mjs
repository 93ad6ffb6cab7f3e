// A chaos run's guest side (scripts/chaos.mjs): starts the workload (scripts/chaos-node.mjs) and does to
// it what the host asks through a control file in the shared work folder, one command a line:
//   kill ID MS        kill -9 the workload, start it again MS later (the fault ends when it listens)
//   corrupt ID MS WHAT  kill -9 the workload, damage its NVRAM region (WHAT: tail, header, header-zero,
//                     record), start it again MS later
//   pause ID MS       SIGSTOP it for MS, then SIGCONT (once no other pause of it is still on)
//   fence ID          fenced by the partner (STONITH): kill -9 the workload wherever it is (running, stopped,
//                     dead already), say so in DIR/fence/ID.killed, start it again 2 s later
//   netem ID K MS SPEC  tc netem SPEC on link K's NIC for MS
//   quit              stop the workload (SIGTERM: it stops its CCM and audits itself), then exit
// The guest's own clock does the timing, and each fault's start and end is written as a history line
// stamped with it. Every second it prints its clock (`chaos-clock MS`) so that the host can map the
// guest's clock to its own.
//   node scripts/chaos-guest.mjs --node-id N --ctl FILE --dir DIR --boot B -- <workload args>
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync, fstatSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const sep = args.indexOf('--');
const opt = (name) => args[args.indexOf(`--${name}`) + 1];
const nodeId = Number(opt('node-id'));
const ctl = opt('ctl');
const dir = opt('dir');
const boot = opt('boot');
const workload = args.slice(sep + 1);
const mono = () => Number(process.hrtime.bigint() / 1000n) / 1000;
const own = openSync(join(dir, `${nodeId}.${boot}.guest.jsonl`), 'as'); // written through (chaos-node.mjs)
const write = (o) =>
  writeSync(own, `${JSON.stringify({ ...o, clock: String(nodeId), mono: mono(), offset: 0 })}\n`);
const fault = (phase, id, kind, extra = {}) =>
  write({ kind: 'fault', phase, id, fault: kind, target: nodeId, ...extra });

let proc = null;
let starts = 0;
let quitting = false;
// Who waits for the next workload to listen (a fault that stopped it ends then).
const waiting = new Set();
const nextListening = () => new Promise((r) => waiting.add(r));
function start() {
  const history = join(dir, `${nodeId}.${boot}.${starts++}.jsonl`);
  proc = spawn(process.execPath, ['scripts/chaos-node.mjs', ...workload, '--history', history], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const me = proc;
  // Its lines go to the console; a fault that stopped it ends when its CCM listens again.
  let listening = false;
  me.stdout.on('data', (d) => {
    process.stdout.write(d);
    if (!listening && d.includes('ccm {"type":"listening"')) {
      listening = true;
      for (const r of waiting) r();
      waiting.clear();
    }
  });
  me.on('exit', (code, signal) => {
    me.exited = true;
    if (me.expected || quitting) return;
    // The workload died of itself: a defect, reported; it is started again so that the run goes on.
    process.stdout.write(`chaos-crash ${JSON.stringify({ node: nodeId, code, signal })}\n`);
    setTimeout(start, 1000);
  });
}

const exited = (p) => new Promise((r) => (p.exited ? r() : p.once('exit', r)));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Kills the workload and starts it again `ms` later, unless a later kill or fence restarts it; resolves
// once a workload listens again.
let restarts = 0;
async function killAndRestart(ms, killed = () => {}) {
  const victim = proc;
  victim.expected = true;
  victim.kill('SIGKILL');
  await exited(victim);
  await killed();
  const mine = ++restarts;
  const listening = nextListening();
  await sleep(ms);
  if (mine === restarts && !quitting) start();
  await listening;
}

/**
 * Damages the workload's NVRAM region while its CCM is down (what: see the header); says what it did.
 * One partner's part: the header page, then the ring, the slot's control words at the end of that page.
 */
async function corrupt(what) {
  const { native } = await import('../dist/native.js');
  const { NVRAM, SLOT, LOG_TAIL } = await import('../dist/ccm/wire/layout.js');
  const { decodeLogTail } = await import('../dist/ccm/wire/log-tail.js');
  const { peekRecord, LOG_HEADER } = await import('../dist/ccm/wire/log-record.js');
  const arg = (name, dflt) => (workload.includes(name) ? workload[workload.indexOf(name) + 1] : dflt);
  const ringBytes = Number(arg('--ring-bytes', String(64 << 10)));
  const { buffer: region, sync } = native.mapFile(arg('--nvram'), NVRAM.ringOffset + ringBytes, false);
  const tail = NVRAM.slot + SLOT.tail;
  let at;
  if (what === 'header-zero') region.fill(0, 0, NVRAM.size);
  else {
    if (what === 'tail') at = tail + 8;
    else if (what === 'header') at = 8;
    else {
      let word = null;
      try {
        word = decodeLogTail(region.subarray(tail, tail + LOG_TAIL.size), ringBytes);
      } catch {
        // A damaged tail word: no record to find.
      }
      // The first record a replay needs: a byte of its payload (the CRC finds it).
      const first = word && NVRAM.ringOffset + Number(word.offset);
      const peek = first && peekRecord(region.subarray(first));
      if (!peek || peek.stream !== word.stream || peek.sequence !== word.released + 1n)
        return 'record: none in the ring';
      at = first + LOG_HEADER.size + 4;
    }
    region[at] ^= 0x10;
  }
  native.syncMapped(region, 0, region.byteLength, sync);
  return what === 'header-zero' ? 'header zeroed' : `${what}: byte ${at} flipped`;
}

async function run(line) {
  const [cmd, id, ...rest] = line.trim().split(/\s+/);
  if (cmd === 'kill') {
    fault('start', id, 'kill');
    await killAndRestart(Number(rest[0]));
    fault('end', id, 'kill');
  } else if (cmd === 'corrupt') {
    let detail = rest[1];
    fault('start', id, 'nvram-corrupt', { detail });
    await killAndRestart(Number(rest[0]), async () => {
      detail = await corrupt(rest[1]).catch((e) => `${rest[1]}: not done (${e.message})`);
    });
    fault('end', id, 'nvram-corrupt', { detail });
  } else if (cmd === 'fence') {
    fault('start', id, 'fenced');
    await killAndRestart(2000, () => writeFileSync(join(dir, 'fence', `${id}.killed`), ''));
    fault('end', id, 'fenced');
  } else if (cmd === 'pause') {
    // Pauses of one process may overlap: it runs again when the last of them ends, not the first.
    const victim = proc;
    victim.pauses = (victim.pauses ?? 0) + 1;
    fault('start', id, 'pause');
    victim.kill('SIGSTOP');
    await sleep(Number(rest[0]));
    if (--victim.pauses === 0) victim.kill('SIGCONT');
    fault('end', id, 'pause');
  } else if (cmd === 'netem') {
    const [k, ms, ...spec] = rest;
    const kind = spec[0] === 'loss' ? 'loss' : 'delay';
    const dev = `lab${k}`;
    spawnSync('tc', ['qdisc', 'replace', 'dev', dev, 'root', 'netem', ...spec], { stdio: 'inherit' });
    fault('start', id, kind, { link: Number(k), detail: spec.join(' ') });
    await sleep(Number(ms));
    spawnSync('tc', ['qdisc', 'del', 'dev', dev, 'root'], { stdio: 'inherit' });
    fault('end', id, kind, { link: Number(k), detail: spec.join(' ') });
  } else if (cmd === 'quit') {
    quitting = true;
    const last = proc;
    last.kill('SIGCONT');
    last.kill('SIGTERM');
    const gone = await Promise.race([exited(last).then(() => true), sleep(30_000).then(() => false)]);
    if (!gone) {
      write({
        kind: 'audit',
        node: nodeId,
        rdma: 0,
        processes: 1,
        fds: 0,
        detail: ['the workload did not stop in 30 s'],
      });
      last.kill('SIGKILL');
    }
    closeSync(own);
    process.exit(0);
  }
}

start();
setInterval(() => process.stdout.write(`chaos-clock ${mono()}\n`), 1000);
// Each command runs as soon as it is read: two faults may overlap.
let offset = 0;
setInterval(() => {
  if (!existsSync(ctl)) return;
  const fd = openSync(ctl, 'r');
  const size = fstatSync(fd).size;
  if (size > offset) {
    const buf = Buffer.alloc(size - offset);
    readSync(fd, buf, 0, buf.length, offset);
    const text = buf.toString();
    const end = text.lastIndexOf('\n') + 1;
    offset += Buffer.byteLength(text.slice(0, end));
    for (const line of text.slice(0, end).split('\n').filter(Boolean))
      run(line).catch((e) => process.stdout.write(`chaos-error ${e.message}\n`));
  }
  closeSync(fd);
}, 100);
